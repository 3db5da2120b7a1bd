"""The ``waiting`` phase: what long-polls and finished-job reads cost, push on and off, one run.

Two gateways are measured the same way, back to back: ``before`` runs
today's old paths (``LONGHAUL_WAIT_PUSH=false``: every waiting request re-reads
its job on a backoff capped at 0.5 s; ``LONGHAUL_FINISHED_CACHE_SIZE=0``: every
read of a finished job is a Resonate read) and ``after`` the defaults (push
and the finished-view cache). Measures:

- ``cost``: Resonate requests per long-poll of each ``waiting_waits`` length on
  a job that stays pending, counted by the dev server's own
  ``resonate_request_total`` (the real server's counter), less the stack's
  idle background over the same window;
- ``latency``: settled-to-seen, from the job's ``completed_at`` (the server's
  settle time) to the client holding the answer, p50/p99;
- ``hold``: ``waiting_holders`` concurrent long-polls on ONE gateway process
  (one gunicorn worker): errors, the process's RSS growth (per request),
  the Resonate server's requests/s while they wait;
- ``reads``: finished-job reads/s and gateway CPU-ms per read (wrk), plain and
  with ``If-None-Match`` (304s), against the bare FastAPI route.
"""

from __future__ import annotations

import asyncio
import resource
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench import client, load, stacks
from bench.phases import Ctx, _wrk, expected_status, timed
from bench.procs import memory_kb, tree

VARIANTS = {
    "before": {"LONGHAUL_WAIT_PUSH": "false", "LONGHAUL_FINISHED_CACHE_SIZE": "0"},
    "after": {"LONGHAUL_WAIT_PUSH": "true"},
}
#: Long-polls past the gateway's default 15 s bound, for the hold measure.
LONG_WAIT_ENV = {"LONGHAUL_MAX_WAIT_S": "120", "LONGHAUL_GRACEFUL_TIMEOUT_S": "150"}


def _requests(resonate_url: str) -> float:
    with urllib.request.urlopen(f"{resonate_url}/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("resonate_request_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _raise_fd_limit(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(want, soft)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def waiting(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    limit = _raise_fd_limit(2 * cfg.waiting_holders + 1000)  # children inherit it
    out: dict[str, Any] = {"fd_limit": limit, "variants": {}}
    if ctx.resonate_url:
        out["note"] = "needs the dev server's resonate_request_total: measured on the dev server"
    for name, env in VARIANTS.items():
        ctx.log(f"  waiting: {name} ({', '.join(f'{k}={v}' for k, v in env.items())})")
        out["variants"][name] = _variant(ctx, name, env)
    ceiling = stacks.ceiling(ctx.raw / "waiting-ceiling", ctx.env)
    try:
        out["ceiling_reads"] = _reads(ctx, ceiling, "ceiling", etags=False)
    finally:
        ceiling.stop()
    return out


def _variant(ctx: Ctx, name: str, env: dict[str, str]) -> dict[str, Any]:
    cfg = ctx.cfg
    base = {**ctx.env, **env, **LONG_WAIT_ENV, "LONGHAUL_REQUIRE_WORKERS": "false"}
    rec: dict[str, Any] = {"env": env}
    # Jobs nobody runs (no workers): they stay pending; and one gateway process.
    idle = stacks.longhaul(ctx.raw / f"waiting-{name}-idle", base, workers=0, web_concurrency=1)
    try:
        assert idle.stack is not None
        rec["cost"] = _cost(ctx, idle.url, idle.stack.resonate_url)
        rec["hold"] = _hold(ctx, idle)
    finally:
        idle.stop()
    busy = stacks.longhaul(ctx.raw / f"waiting-{name}", base)
    try:
        rec["latency"] = asyncio.run(_latency(busy.url, cfg.waiting_latency_jobs))
        rec["reads"] = _reads(ctx, busy, name, etags=True)
    finally:
        busy.stop()
    ctx.log(f"  waiting {name}: {_summary(rec)}")
    return rec


def _summary(rec: dict[str, Any]) -> str:
    cost = ", ".join(f"{w}s: {c['per_long_poll']:.1f} req" for w, c in rec["cost"].items())
    lat = rec["latency"]
    reads = rec["reads"]
    return (
        f"per long-poll {cost}; settled-to-seen p50 {lat['p50_ms']} ms p99 {lat['p99_ms']} ms; "
        f"hold {rec['hold']['holders']}: {rec['hold']['errors']} errors, "
        f"{rec['hold']['rss_kb_per_request']} KiB each, "
        f"{rec['hold']['server_rps_while_waiting']} server req/s; "
        f"finished reads {reads['plain']['rps']:.0f}/s, "
        f"304s {reads.get('etag', {}).get('rps', 0):.0f}/s"
    )


# ── Resonate requests per long-poll ───────────────────────────────────────


def _cost(ctx: Ctx, url: str, resonate_url: str) -> dict[str, Any]:
    cfg = ctx.cfg
    n = cfg.waiting_cost_polls
    ids = client.post_jobs(url, "v1", n, kind="sleep", payload={"seconds": 3600})
    out: dict[str, Any] = {}
    for wait in cfg.waiting_waits:
        before = _requests(resonate_url)
        t0 = time.monotonic()
        answers = asyncio.run(_long_polls(url, ids, wait))
        window = time.monotonic() - t0
        spent = _requests(resonate_url) - before
        # The stack's own background (none expected: no workers) over as long a window.
        b0 = _requests(resonate_url)
        time.sleep(min(window, 2.0))
        background = (_requests(resonate_url) - b0) * window / min(window, 2.0)
        out[str(wait)] = {
            "long_polls": n,
            "statuses": sorted(set(answers)),
            "requests": spent,
            "background": round(background, 1),
            "per_long_poll": round(max(0.0, spent - background) / n, 2),
            "window_s": round(window, 3),
        }
    return out


async def _long_polls(url: str, ids: list[str], wait: float) -> list[str]:
    timeout = aiohttp.ClientTimeout(total=wait + 30)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(job_id: str) -> str:
            async with session.get(f"{url}/v1/jobs/{job_id}", params={"wait": wait}) as r:
                return (await r.json())["status"]

        return await asyncio.gather(*(one(i) for i in ids))


# ── settled-to-seen ───────────────────────────────────────────────────────


async def _latency(url: str, n: int) -> dict[str, Any]:
    """Sleep jobs of 1-2 s, each long-polled from its submit: seen at minus completed_at."""
    timeout = aiohttp.ClientTimeout(total=60)
    seen_ms: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(k: int) -> None:
            nonlocal errors
            seconds = 1 + (k * 0.618) % 1  # spread over a backoff step
            async with session.post(
                f"{url}/v1/jobs", json={"kind": "sleep", "input": {"seconds": seconds}}
            ) as r:
                job_id = (await r.json())["id"]
            # Settles come on the dev server's timer ticks, a fixed grid: start each wait at
            # its own phase of the backoff's 0.5 s steps, or all would see the same delay.
            await asyncio.sleep((k * 0.381) % 1 * 0.5)
            while True:
                async with session.get(f"{url}/v1/jobs/{job_id}", params={"wait": 15}) as r:
                    body = await r.json()
                at = time.time()
                if body["status"] != "pending":
                    break
            if body["status"] != "succeeded":
                errors += 1
                return
            completed = datetime.fromisoformat(body["completed_at"]).timestamp()
            seen_ms.append(max(0.0, (at - completed) * 1000))

        await asyncio.gather(*(one(k) for k in range(n)))
    seen_ms.sort()
    pick = lambda q: round(seen_ms[min(len(seen_ms) - 1, int(q * len(seen_ms)))], 1)  # noqa: E731
    return {
        "jobs": n,
        "errors": errors,
        "p50_ms": pick(0.5) if seen_ms else None,
        "p99_ms": pick(0.99) if seen_ms else None,
        "max_ms": round(seen_ms[-1], 1) if seen_ms else None,
        "note": "completed_at has millisecond precision (the server's settle time)",
    }


# ── many concurrent long-polls on one gateway process ─────────────────────


def _gateway_worker_pid(system: stacks.LonghaulSystem) -> int:
    assert system.stack is not None and system.stack.gateway is not None
    pids = tree(system.stack.gateway.pid)
    return pids[-1]  # [master, its one worker]


def _hold(ctx: Ctx, system: stacks.LonghaulSystem) -> dict[str, Any]:
    cfg = ctx.cfg
    assert system.stack is not None
    n, wait = cfg.waiting_holders, cfg.waiting_hold_s
    ids = client.post_jobs(system.url, "v1", n, kind="sleep", payload={"seconds": 3600})
    pid = _gateway_worker_pid(system)
    rss0 = memory_kb(pid)["rss_kb"]
    result = asyncio.run(_hold_all(system.url, system.stack.resonate_url, ids, wait, pid))
    return {
        "holders": n,
        "wait_s": wait,
        "rss_kb_before": rss0,
        **result,
        "rss_kb_growth": result["rss_kb_peak_while_waiting"] - rss0,
        "rss_kb_per_request": round((result["rss_kb_peak_while_waiting"] - rss0) / n, 2),
    }


async def _hold_all(
    url: str, resonate_url: str, ids: list[str], wait: float, pid: int
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=wait + 60)
    statuses: dict[str, int] = {}
    errors: list[str] = []
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(job_id: str) -> None:
            try:
                async with session.get(f"{url}/v1/jobs/{job_id}", params={"wait": wait}) as r:
                    body = await r.json()
                key = body.get("status", str(r.status))
                statuses[key] = statuses.get(key, 0) + 1
            except Exception as exc:  # counted, not raised: an error is a result here
                errors.append(type(exc).__name__)

        t0 = loop.time()
        tasks = []
        # In waves over the first 30 % of the wait: the listen backlog is 2048, and each
        # new long-poll costs the Resonate server a read (and, with push, a listener).
        waves = max(1, -(-len(ids) // 200))
        for start in range(0, len(ids), 200):
            tasks += [asyncio.create_task(one(i)) for i in ids[start : start + 200]]
            await asyncio.sleep(wait * 0.3 / waves)
        ramp_deadline = t0 + wait * 0.5
        waiting = 0.0
        while loop.time() < ramp_deadline:
            waiting = _gauge(url, "longhaul_gateway_waiting_requests")
            if waiting >= len(ids) * 0.99:
                break
            await asyncio.sleep(0.5)
        ramp_s = loop.time() - t0
        r0, w0 = _requests(resonate_url), loop.time()
        rss_peak = 0
        while loop.time() < t0 + wait - 1:
            rss_peak = max(rss_peak, memory_kb(pid)["rss_kb"])
            await asyncio.sleep(0.5)
        window = loop.time() - w0
        server_rps = (_requests(resonate_url) - r0) / window if window > 0 else None
        await asyncio.gather(*tasks)
    return {
        "ramp_s": round(ramp_s, 2),
        "waiting_at_ramp_end": waiting,
        "statuses": statuses,
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "rss_kb_peak_while_waiting": rss_peak,
        "server_rps_while_waiting": round(server_rps, 1) if server_rps is not None else None,
        "window_s": round(window, 2),
    }


def _gauge(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


# ── finished-job reads ────────────────────────────────────────────────────


def _reads(ctx: Ctx, system: stacks.System, tag: str, *, etags: bool) -> dict[str, Any]:
    cfg = ctx.cfg
    c, d = cfg.waiting_read_connections, cfg.duration_s
    if tag == "ceiling":
        ids = ctx.raw / "waiting-ceiling-ids.txt"
        ids.write_text("job-0\n")
    else:
        ids = _finished_ids(ctx, system, tag)
    args = [
        str(ids),
        "/v1/jobs/",
        "",
        expected_status(tag if tag == "ceiling" else "longhaul", "completed"),
    ]
    load.wrk(system.url, "read.lua", args, connections=c, duration_s=cfg.warmup_s)
    out: dict[str, Any] = {"plain": timed(system, _wrk(system.url, "read.lua", args, c, d))}
    if etags:
        tagged = _with_etags(system.url, ids, ctx.raw / f"waiting-{tag}-etags.txt")
        out["etag"] = timed(
            system, _wrk(system.url, "read_etag.lua", [str(tagged), "/v1/jobs/"], c, d)
        )
    return out


def _finished_ids(ctx: Ctx, system: stacks.System, tag: str) -> Path:
    ids = client.post_jobs(system.url, "v1", ctx.cfg.status_jobs)
    asyncio.run(_long_polls(system.url, ids, 10))  # all finished (echo)
    path = ctx.raw / f"waiting-{tag}-ids.txt"
    path.write_text("\n".join(ids) + "\n")
    return path


def _with_etags(url: str, ids: Path, out: Path) -> Path:
    lines = []
    for job_id in ids.read_text().split():
        with urllib.request.urlopen(f"{url}/v1/jobs/{job_id}", timeout=5) as r:  # noqa: S310
            lines.append(f"{job_id}\t{r.headers['ETag']}")
    out.write_text("\n".join(lines) + "\n")
    return out


# ── report ────────────────────────────────────────────────────────────────


def report_section(doc: Any, r: dict[str, Any]) -> None:
    """``## Waiting``: push on against push off, and finished reads against the bare route."""
    from bench.report import fmt, g

    ph = g(r, "phases", "waiting", "longhaul")
    if not ph:
        return
    variants = ph.get("variants", {})
    before, after = variants.get("before", {}), variants.get("after", {})
    ceiling = g(ph, "ceiling_reads", "plain", "rps")
    doc("## Waiting: long-polls and finished reads")
    doc()
    doc.p(
        """`before`: `LONGHAUL_WAIT_PUSH=false` and `LONGHAUL_FINISHED_CACHE_SIZE=0`, every
        waiting request re-reads its job on a backoff capped at 0.5 s and every read is a
        Resonate read; `after`: the defaults, long-polls woken by the Resonate server's push
        and finished views cached (docs/long-polling.md). Resonate requests are counted by the
        dev server's own `resonate_request_total`."""
    )
    rows = []
    waits = sorted({w for v in (before, after) for w in v.get("cost", {})}, key=float)
    for label, key in [(f"Resonate requests per {w} s long-poll (pending job)", w) for w in waits]:
        rows.append([label] + [fmt(g(v, "cost", key, "per_long_poll"), 1) for v in (before, after)])
    for label, q in (
        ("settled-to-seen p50 (ms)", "p50_ms"),
        ("settled-to-seen p99 (ms)", "p99_ms"),
    ):
        rows.append([label] + [fmt(g(v, "latency", q), 1) for v in (before, after)])
    n = fmt(g(after, "hold", "holders") or g(before, "hold", "holders"))
    for label, key, digits in (
        (f"{n} long-polls on one gateway process: errors", "errors", 0),
        ("… gateway RSS growth per waiting request (KiB)", "rss_kb_per_request", 1),
        ("… Resonate requests/s while they wait", "server_rps_while_waiting", 0),
    ):
        rows.append([label] + [fmt(g(v, "hold", key), digits) for v in (before, after)])
    for label, key in (("finished-job reads/s", "plain"), ("304s/s (If-None-Match)", "etag")):
        rows.append([label] + [fmt(g(v, "reads", key, "rps")) for v in (before, after)])
        rows.append(
            [f"… gateway CPU-ms per {'read' if key == 'plain' else '304'}"]
            + [fmt(g(v, "reads", key, "cpu_ms_per_request", "gateway"), 3) for v in (before, after)]
        )
    doc.table(["", "before", "after"], rows)
    if ceiling:
        shares = [
            f"{name} {100 * (g(v, 'reads', 'plain', 'rps') or 0) / ceiling:.0f}%"
            for name, v in (("before", before), ("after", after))
        ]
        doc.p(
            f"""Finished-job reads against the bare FastAPI route ({fmt(ceiling)} reads/s,
            {fmt(g(ph, "ceiling_reads", "plain", "cpu_ms_per_request", "gateway"), 3)} CPU-ms per
            read): {", ".join(shares)} of its rate."""
        )
