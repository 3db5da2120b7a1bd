"""The ``cost`` phase: Resonate requests per job, end to end, from the server's own counter.

The one Resonate server is the budget every tenant shares: what a job costs it
is what tells an operator how many jobs a second one server can carry. Each
job here is submitted, run by a worker and watched by its client the way the
API is meant to be used (``GET ?wait=`` until it is done); the cost is the
change of ``resonate_request_total`` (by request kind) over the window,
less what the idle stack sends anyway in as long (workers' heartbeats and
adverts), divided by the jobs.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections import Counter
from typing import Any

import aiohttp

from bench import phases

_SAMPLE = re.compile(
    r'^resonate_request_total\{kind="([^"]+)",status="([^"]+)"\} ([0-9.e+]+)$', re.M
)

#: What each kind runs: echo returns its input; pipeline runs its steps.
JOBS: dict[str, dict[str, Any]] = {
    "echo": {"n": 1, "s": "bench"},
    "pipeline": {"values": [3, 1, 4, 1, 5], "step_delay_s": 0},
}


_COMMIT_BUCKET = re.compile(
    r'^longhaul_devserver_commit_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$', re.M
)


def _scrape(resonate_url: str) -> str:
    with urllib.request.urlopen(f"{resonate_url}/metrics", timeout=5) as response:  # noqa: S310
        return response.read().decode()


def commit_buckets(resonate_url: str) -> dict[float, float]:
    """The dev server's group-commit histogram (cumulative counts by upper bound)."""
    return {float(le): float(v) for le, v in _COMMIT_BUCKET.findall(_scrape(resonate_url))}


def commit_summary(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """Commits in a window and the bucket bounds their p50 and p99 fall in (ms)."""
    delta = sorted((le, after.get(le, 0.0) - before.get(le, 0.0)) for le in after)
    total = delta[-1][1] if delta else 0.0
    out: dict[str, Any] = {"commits": int(total)}
    for q in (0.5, 0.99):
        bound = next((le for le, n in delta if total and n >= q * total), None)
        out[f"p{int(q * 100)}_le_ms"] = None if bound is None else round(bound * 1000, 1)
    return out


def requests_by_kind(resonate_url: str) -> Counter[str]:
    text = _scrape(resonate_url)
    counts: Counter[str] = Counter()
    for kind, _status, value in _SAMPLE.findall(text):
        counts[kind] += float(value)
    return counts


async def _run_jobs(url: str, kind: str, payload: dict[str, Any], n: int, c: int) -> dict:
    reads = 0
    failed = 0
    sem = asyncio.Semaphore(c)
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            nonlocal reads, failed
            async with sem:
                async with session.post(
                    f"{url}/v1/jobs", json={"kind": kind, "input": payload}
                ) as r:
                    job = await r.json(content_type=None)
                status = job.get("status", "pending")
                while status == "pending":
                    async with session.get(
                        f"{url}/v1/jobs/{job['id']}", params={"wait": "10"}
                    ) as r:
                        status = (await r.json(content_type=None)).get("status")
                    reads += 1
                if status != "succeeded":
                    failed += 1

        await asyncio.gather(*(one() for _ in range(n)))
    return {"client_reads": reads, "failed": failed}


def _per_job(delta: Counter[str], background: Counter[str], seconds: float, n: int) -> dict:
    out: dict[str, float] = {}
    for kind in sorted(set(delta) | set(background)):
        value = (delta[kind] - background[kind] * seconds) / n
        if abs(value) >= 0.005:
            out[kind] = round(value, 2)
    return out


def server_cost(ctx: phases.Ctx) -> dict[str, Any]:
    """Per kind: Resonate requests per job (total and by request kind), client reads per job."""
    cfg = ctx.cfg
    n, c, idle_s = cfg.cost_jobs, cfg.cost_concurrency, cfg.cost_idle_s
    system = phases._longhaul(ctx, "cost")
    try:
        resonate_url = system.stack.resonate_url
        # Warm-up: lazy imports, the gateway's advert lookups, first connections.
        for kind, payload in JOBS.items():
            asyncio.run(_run_jobs(system.url, kind, payload, 10, c))
        time.sleep(1.0)
        start = requests_by_kind(resonate_url)
        time.sleep(idle_s)
        idle = requests_by_kind(resonate_url) - start
        background = Counter({k: v / idle_s for k, v in idle.items()})
        out: dict[str, Any] = {
            "jobs": n,
            "concurrency": c,
            "idle_requests_per_s": {k: round(v, 2) for k, v in background.items()},
        }
        for kind, payload in JOBS.items():
            before = requests_by_kind(resonate_url)
            t0 = time.monotonic()
            rec = asyncio.run(_run_jobs(system.url, kind, payload, n, c))
            seconds = time.monotonic() - t0
            delta = requests_by_kind(resonate_url) - before
            by_kind = _per_job(delta, background, seconds, n)
            rec.update(
                seconds=round(seconds, 2),
                requests_per_job=round(sum(by_kind.values()), 2),
                by_request_kind=by_kind,
                client_reads_per_job=round(rec["client_reads"] / n, 2),
            )
            out[kind] = rec
            ctx.log(
                f"  {kind}: {rec['requests_per_job']} Resonate requests per job "
                f"({', '.join(f'{k} {v}' for k, v in by_kind.items())}); "
                f"{rec['client_reads_per_job']} client reads per job, {rec['failed']} failed"
            )
        return out
    finally:
        system.stop()
