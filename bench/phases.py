"""The measurements. Each phase starts what it needs, measures, stops it, returns plain data.

Every timed window records, next to its result, the CPU seconds each component
of the system under test used, the load generator's CPU seconds, and the CPU
seconds *nothing of ours* used (the machine's busy time minus all of that), so a
run disturbed by other work on the machine shows it.

Dev-server systems are started fresh for each submit measurement: the dev
server keeps every promise it was sent, so a shared server would make every
number depend on what ran before it. How its cost grows with what it holds
is measured on purpose (the ``growth`` measure).
"""

from __future__ import annotations

import functools
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import client, cost, load, profile, stacks
from bench.environment import REPO, busy_seconds
from bench.otlp_sink import otlp_sink
from bench.procs import Usage

Log = Callable[[str], None]


@dataclass
class Config:
    duration_s: float = 3.0
    retention_s: float = 20.0  # bench/retention.py: the shortened LONGHAUL_RETENTION
    retention_run_s: float = 120.0
    retention_rate: float = 20.0
    retention_pg_promises: int = 100_000
    warmup_s: float = 1.0
    concurrencies: tuple[int, ...] = (1, 8, 64)
    status_jobs: int = 200
    status_rounds: int = 3
    status_round_s: float = 2.0
    submit_rounds: int = 3
    submit_round_s: float = 2.0
    overlap_jobs: int = 8
    e2e_rate: float = 100.0
    e2e_duration_s: float = 6.0
    wait_s: float = 10.0
    ref_poll_s: float = 0.05
    hold_clients: int = 64
    hold_wait_s: float = 5.0
    lag_rate: float = 10.0
    lag_duration_s: float = 3.0
    scaling_workers: tuple[int, ...] = (1, 2, 4)
    scaling_connections: int = 32
    scaling_duration_s: float = 4.0
    profile_s: float = 6.0
    profile_connections: int = 16
    ab_connections: int = 32
    ablation_connections: int = 32
    ab_duration_s: float = 2.0
    preload_promises: int = 20000
    #: Promises held when the listing phase measures search pages, and pages per query.
    listing_sizes: tuple[int, ...] = (10_000, 100_000)
    listing_pages: int = 100
    asgi_requests: int = 5_000
    cost_jobs: int = 200
    cost_concurrency: int = 8
    cost_idle_s: float = 5.0
    celery_scaling: bool = False
    waiting_waits: tuple[float, ...] = (5.0, 15.0)
    waiting_cost_polls: int = 20
    waiting_latency_jobs: int = 100
    waiting_holders: int = 10_000
    waiting_hold_s: float = 40.0
    waiting_read_connections: int = 64


@dataclass
class Ctx:
    cfg: Config
    raw: Path
    env: dict[str, str]
    log: Log
    tools: dict[str, str | None]
    resonate_url: str | None = None
    gateway_url: str | None = None
    patched_root: Path | None = (
        None  # services/ with every applicable patch, for "longhaul+patches"
    )
    #: Failures a phase survived (one system of several not measured), for results.json.
    errors: list[dict[str, Any]] = field(default_factory=list)


# ── timed windows ─────────────────────────────────────────────────────────


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def timed(system: stacks.System | None, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``_timed``, once more if the HTTP server's connections still all landed on one worker.

    gunicorn's workers share one listening socket and a burst of connections is often
    accepted by one worker alone (see ``load.py``; wrk's threads start staggered against
    it). A run where one worker did nearly all the work measures that, not the app: it is
    repeated once, and the first attempt is kept in the result.
    """
    result = _timed(system, run)
    split = result.get("gateway_worker_cpu_s") or []
    saturated = bool(split) and max(split) > 0.4 * result["window_s"]  # one worker was busy
    if (
        (result.get("connections") or 0) >= 8
        and len(split) >= 2
        and saturated
        and min(split) < 0.25 * max(split)
    ):
        first = {k: result[k] for k in ("rps", "gateway_worker_cpu_s") if k in result}
        result = _timed(system, run)
        result["unbalanced_first_attempt"] = first
    return result


def _timed(system: stacks.System | None, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    usage = Usage(system.components if system else [])
    children = load.ChildCpu()
    usage.start()
    children.start()
    busy0, self0, t0 = busy_seconds(), _self_cpu(), time.monotonic()
    result = run()
    wall = time.monotonic() - t0
    components = usage.stop()
    loadgen = children.stop()
    busy = busy_seconds() - busy0
    ours = sum(float(c["cpu_s"]) for c in components.values()) + loadgen + (_self_cpu() - self0)
    result["cpu_s"] = {name: c["cpu_s"] for name, c in components.items()}
    result["cpu_s"]["loadgen"] = loadgen
    result["cpu_s"]["other"] = round(max(0.0, busy - ours), 3)
    result["window_s"] = round(wall, 3)
    result["memory_kb"] = {
        name: {"rss": c["rss_kb"], "peak": c["hwm_kb"], "processes": c["processes"]}
        for name, c in components.items()
    }
    if "gateway" in components:  # [master, worker, worker...]: the workers' split of the load
        result["gateway_worker_cpu_s"] = components["gateway"]["cpu_s_by_process"][1:]
    requests = result.get("requests") or result.get("jobs")
    if requests:
        result["cpu_ms_per_request"] = {
            name: round(1000 * float(v) / requests, 3) for name, v in result["cpu_s"].items()
        }
    return result


def _wrk(
    url: str, script: str, args: list[str], c: int, d: float, timeout_s: float = 10
) -> Callable[[], dict]:
    return lambda: load.wrk(url, script, args, connections=c, duration_s=d, timeout_s=timeout_s)


def _drain(system: stacks.System, target: int, timeout: float = 60) -> float | None:
    """Seconds until the workers have completed ``target`` jobs in total (None: unknown/timeout)."""
    if isinstance(system, stacks.ExternalSystem):
        time.sleep(1)
        return None
    return client.wait_for(system.completed, target, timeout)


def _completed_ids(ctx: Ctx, system: stacks.System, api: str, tag: str) -> Path:
    """Submit ``status_jobs`` echo jobs, wait until they have run, write their ids for wrk."""
    base = 0 if isinstance(system, stacks.ExternalSystem) else system.completed()
    ids = client.post_jobs(system.url, api, ctx.cfg.status_jobs)
    _drain(system, base + len(ids), 60)
    path = ctx.raw / f"{tag}-ids.txt"
    path.write_text("\n".join(ids) + "\n")
    return path


# ── system factories ──────────────────────────────────────────────────────


def _longhaul(ctx: Ctx, tag: str, **kw: Any) -> stacks.LonghaulSystem:
    return stacks.longhaul(ctx.raw / tag, ctx.env, resonate_url=ctx.resonate_url, **kw)


def _reference(ctx: Ctx, tag: str, **kw: Any) -> stacks.LonghaulSystem:
    return stacks.reference(ctx.raw / tag, ctx.env, resonate_url=ctx.resonate_url, **kw)


def _celery(ctx: Ctx, tag: str, **kw: Any) -> stacks.CelerySystem:
    redis_server = ctx.tools.get("redis-server") or "redis-server"
    backoff = _poll_constants(REPO)
    return stacks.celery(
        ctx.raw / tag, ctx.env, redis_server=redis_server, poll_backoff=backoff, **kw
    )


API = {
    "longhaul": "v1",
    "longhaul+patches": "v1",
    "longhaul-memory": "v1",
    "reference": "begin",
    "celery": "v1",
    "ceiling": "v1",
}
READ_PATH = {
    "longhaul": "/v1/jobs/",
    "longhaul+patches": "/v1/jobs/",
    "longhaul-memory": "/v1/jobs/",
    "reference": "/wait?id=",
    "celery": "/v1/jobs/",
    "ceiling": "/v1/jobs/",
}


# ── phases ────────────────────────────────────────────────────────────────


def ceiling(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    out: dict[str, Any] = {"submit": {}, "status": {}}
    system = stacks.ceiling(ctx.raw / "ceiling", ctx.env)
    try:
        load.wrk(system.url, "submit.lua", ["v1", "warm"], connections=8, duration_s=cfg.warmup_s)
        ids = ctx.raw / "ceiling-ids.txt"
        ids.write_text("job-0\n")
        load.wrk(
            system.url, "read.lua", [str(ids), "/v1/jobs/"], connections=8, duration_s=cfg.warmup_s
        )
        for c in cfg.concurrencies:
            out["submit"][str(c)] = timed(
                system, _wrk(system.url, "submit.lua", ["v1", f"c{c}"], c, cfg.duration_s)
            )
            out["status"][str(c)] = timed(
                system,
                _wrk(
                    system.url,
                    "read.lua",
                    [str(ids), "/v1/jobs/", "", expected_status("ceiling", "completed")],
                    c,
                    cfg.duration_s,
                ),
            )
            ctx.log(
                f"  ceiling c={c}: POST {out['submit'][str(c)]['rps']:.0f}/s, "
                f"GET {out['status'][str(c)]['rps']:.0f}/s"
            )
    finally:
        system.stop()
    return out


def submit_sweep(ctx: Ctx, names: list[str]) -> dict[str, Any]:
    """POST throughput and latency per concurrency, the systems measured in turns.

    For each concurrency and batch (``batches``) the Resonate-based systems start fresh
    (the dev server keeps every promise it ever created); Celery's stack is kept. Every
    system is warmed, then ``submit_rounds`` rounds run each system once, the first
    rotating, each run followed by the wait for its workers to catch up, so the next
    system starts on a quiet machine. The run with the median accepted/s is kept, all
    runs beside it.
    """
    out: dict[str, Any] = {name: {} for name in names}
    kept: dict[str, stacks.System] = {}
    try:
        for c in ctx.cfg.concurrencies:
            for k, batch in enumerate(batches(ctx, names)):
                _submit_batch(ctx, [n for n in batch if n in out], c, k, out, kept)
    finally:
        for system in kept.values():
            system.stop()
    return out


def _submit_batch(
    ctx: Ctx,
    names: list[str],
    c: int,
    batch: int,
    out: dict[str, Any],
    kept: dict[str, stacks.System],
) -> None:
    up: dict[str, stacks.System] = {}
    try:
        for name in names:
            try:
                up[name] = kept.get(name) or _start_for_submits(ctx, name, c)
            except Exception as exc:  # the other systems are still compared
                ctx.log(f"  {name}: not measured: {exc!r}")
                ctx.errors.append({"phase": "submit", "system": name, "error": repr(exc)})
                out.pop(name)
                continue
            if not _fresh_for_submits(ctx, name):
                kept[name] = up[name]
        runs = in_turns(
            list(up),
            ctx.cfg.submit_rounds,
            lambda name: _submit_run(up[name], API[name], c, ctx.cfg.submit_round_s),
        )
        for name, recs in runs.items():
            out[name][str(c)] = rec = median_run(recs, batch)
            ctx.log(
                f"  {name} submit c={c}: {rec['rps']:.0f}/s p50 "
                f"{rec['latency_ms']['p50']:.1f} ms p99 {rec['latency_ms']['p99']:.1f} ms; "
                f"drained in {rec['drain_s']} s{_rounds_note(recs)}"
            )
    finally:
        for name, system in up.items():
            if name not in kept:
                system.stop()


def _fresh_for_submits(ctx: Ctx, name: str) -> bool:
    """Dev-server systems start fresh per concurrency; a --gateway-url gateway and Celery do not."""
    return name == "reference" or (name.startswith("longhaul") and ctx.gateway_url is None)


def _start_for_submits(ctx: Ctx, name: str, c: int) -> stacks.System:
    system = _start(ctx, name, f"{name}-submit-c{c}")
    try:
        base = system.completed() if not isinstance(system, stacks.ExternalSystem) else 0
        warm = load.wrk(
            system.url,
            "submit.lua",
            [API[name], f"w{c}-{time.time_ns()}"],
            connections=4,
            duration_s=ctx.cfg.warmup_s,
        )
        _drain(system, base + warm["requests"], 30)
    except BaseException:
        system.stop()
        raise
    return system


def _submit_run(system: stacks.System, api: str, c: int, d: float) -> dict[str, Any]:
    """One timed submit run, then the wait until the workers have run what it submitted."""
    before = 0 if isinstance(system, stacks.ExternalSystem) else system.completed()
    rec = timed(system, _wrk(system.url, "submit.lua", [api, f"s{c}-{time.time_ns()}"], c, d))
    drained = _drain(system, before + rec["requests"], 90)
    rec["drain_s"] = drained
    if drained is not None:
        rec["completion_rate"] = round(rec["requests"] / (rec["duration_s"] + drained), 1)
    if isinstance(system, stacks.LonghaulSystem):
        rec["promises_after"] = system.promise_count()
    return rec


#: What a variant of the product is made of: the services and the public job-kind API.
SOURCE_TREES = ("services", "longhaul")


def patched_tree(patches: list[Path], *, reverse: bool = False) -> Path:
    """A scratch copy of the current services/ (and the longhaul/ API they import) with
    ``patches`` applied, or taken out again."""
    root = Path(tempfile.mkdtemp(prefix="longhaul-bench-variant-"))
    try:
        for tree in SOURCE_TREES:
            shutil.copytree(REPO / tree, root / tree, ignore=shutil.ignore_patterns("__pycache__"))
        for patch in reversed(patches) if reverse else patches:
            argv = ["git", "apply", *(["--reverse"] if reverse else []), str(patch)]
            subprocess.run(argv, cwd=root, check=True)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root


def applicable_patches() -> list[Path]:
    return [p for p in sorted(PATCH_DIR.glob("*.patch")) if patch_state(p) == "applies"]


def _start(ctx: Ctx, name: str, tag: str, **kw: Any) -> stacks.System:
    if name == "longhaul+patches":
        return _longhaul(ctx, tag, src_root=ctx.patched_root, **kw)
    if name == "longhaul-memory":
        return _longhaul(ctx, tag, devserver_db=False, **kw)
    if name == "longhaul":
        if ctx.gateway_url:
            return stacks.ExternalSystem("longhaul", ctx.raw / tag, ctx.env, url=ctx.gateway_url)
        return _longhaul(ctx, tag, **kw)
    if name == "reference":
        return _reference(ctx, tag, **kw)
    if name == "celery":
        return _celery(ctx, tag, **kw)
    raise ValueError(name)


def status_reads(ctx: Ctx, names: list[str]) -> dict[str, Any]:
    """GET on completed and on pending jobs per concurrency, the systems measured in turns.

    This machine's speed drifts by ~10% over minutes (two identical stacks measured
    back to back agree; one stack measured now and again later does not). So the
    systems of a batch (``batches``) are up at once and compared in turns: each
    completed-job point runs ``status_rounds`` rounds, every system once a round, the
    first rotating, and the round with the median reads/s is kept (with all rounds
    beside it). Pending-job points run once, in the same rotation. Systems not being
    measured sit idle; their CPU shows as other load. Longhaul's ``?wait=`` costs are
    measured after, alone.
    """
    out: dict[str, Any] = {}
    for k, batch in enumerate(batches(ctx, names)):
        out.update(_status_batch(ctx, batch, k))
    return out


def batches(ctx: Ctx, names: list[str]) -> list[list[str]]:
    """The systems that may be up at once, in the order they are measured.

    On one given Resonate server (``RESONATE_URL``) every Resonate-based system's
    workers poll the same group, so a job one system submits could run on another's
    workers: those systems each get a batch of their own (Celery joins the first),
    and their rounds are not paired. With the dev server each system has its own.
    """
    if not ctx.resonate_url:
        return [names]
    own = [[n] for n in names if n != "celery"] or [[]]
    own[0] += [n for n in names if n == "celery"]
    return own


def _status_batch(ctx: Ctx, names: list[str], batch: int) -> dict[str, Any]:
    cfg = ctx.cfg
    up: dict[str, tuple[stacks.System, dict[str, Path]]] = {}
    try:
        for name in names:
            try:
                up[name] = _prepare_reads(ctx, name)
            except Exception as exc:  # the other systems are still compared
                ctx.log(f"  {name}: not measured: {exc!r}")
                ctx.errors.append({"phase": "status", "system": name, "error": repr(exc)})
        order = list(up)
        out: dict[str, Any] = {name: {"completed": {}, "pending": {}} for name in order}
        for c in cfg.concurrencies:
            for label, rounds, d in (
                ("completed", cfg.status_rounds, cfg.status_round_s),
                ("pending", 1, cfg.duration_s),
            ):
                runs = in_turns(
                    order,
                    rounds,
                    lambda name, label=label, c=c, d=d: _timed_read(*up[name], name, label, c, d),
                )
                for name, recs in runs.items():
                    out[name][label][str(c)] = rec = median_run(recs, batch)
                    lat = rec["latency_ms"]
                    ctx.log(
                        f"  {name} GET {label} c={c}: {rec['rps']:.0f}/s p50 {lat['p50']:.2f} ms "
                        f"p99 {lat['p99']:.2f} ms (errors {rec['errors']}, wrong {rec['wrong']})"
                        f"{_rounds_note(recs)}"
                    )
        for name in order:
            system, files = up[name]
            out[name]["overlap"] = _overlapping_reads(ctx, system, name, files["completed"])
        for name in [n for n in order if n != "longhaul"]:
            up.pop(name)[0].stop()
        if "longhaul" in up:
            out["longhaul"]["wait"] = _wait_cost(ctx, *up["longhaul"])
    finally:
        for system, _ in up.values():
            system.stop()
    return out


def _timed_read(
    system: stacks.System, files: dict[str, Path], name: str, label: str, c: int, d: float
) -> dict[str, Any]:
    """One timed run of reads of ``label`` jobs, every answer checked."""
    args = [str(files[label]), READ_PATH[name], "", expected_status(name, label)]
    return timed(system, _wrk(system.url, "read.lua", args, c, d))


def in_turns(
    names: list[str], rounds: int, run: Callable[[str], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """``run`` each system once a round, ``rounds`` times, the first of a round rotating."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(rounds if names else 0):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            runs[name].append(run(name))
    return runs


def _rounds_note(recs: list[dict[str, Any]]) -> str:
    return f" rounds {[round(x['rps']) for x in recs]}" if len(recs) > 1 else ""


def median_run(recs: list[dict[str, Any]], batch: int = 0) -> dict[str, Any]:
    """The run with the median rate (the lower middle of an even count), with every run's
    rate and CPU per request beside it. Runs of one ``batch`` were taken in turns."""
    kept = sorted(recs, key=lambda rec: rec["rps"])[(len(recs) - 1) // 2]
    if len(recs) == 1:
        return {**kept, "batch": batch}
    rounds = [
        {"rps": rec["rps"], "cpu_ms_per_request": rec.get("cpu_ms_per_request", {})} for rec in recs
    ]
    return {**kept, "rounds": rounds, "batch": batch}


def _prepare_reads(ctx: Ctx, name: str) -> tuple[stacks.System, dict[str, Path]]:
    """Start ``name``; give it completed and pending jobs to read; warm its client pool."""
    cfg = ctx.cfg
    system = _start(ctx, name, f"{name}-status")
    try:
        completed_file = _completed_ids(ctx, system, API[name], f"{name}-completed")
        if name.startswith("longhaul"):
            pending = client.post_jobs(
                system.url, "v1", cfg.status_jobs, "sleep", {"seconds": 3600}
            )
        elif name == "reference":
            pending = client.rpc_jobs(
                system.stack.resonate_url, cfg.status_jobs, "longhaul.sleep", {"seconds": 3600}
            )
        else:  # Celery cannot tell a queued task from an unknown id: both read as PENDING
            pending = [f"job-unknown-{i:04d}" for i in range(cfg.status_jobs)]
        time.sleep(0.5)
        files = {"completed": completed_file, "pending": ctx.raw / f"{name}-pending-ids.txt"}
        files["pending"].write_text("\n".join(pending) + "\n")
        # Warm-up reads: the gateway's client pool to the Resonate server fills up.
        load.wrk(
            system.url,
            "read.lua",
            [str(files["completed"]), READ_PATH[name]],
            connections=8,
            duration_s=cfg.warmup_s,
        )
    except BaseException:
        system.stop()
        raise
    return system, files


def expected_status(name: str, label: str) -> str:
    """Text every answer to a status read must contain (wrk counts the answers without it)."""
    if label == "pending":
        return '"status":"pending"'
    return '"status":"resolved"' if name == "reference" else '"status":"succeeded"'


def _overlapping_reads(
    ctx: Ctx, system: stacks.System, name: str, completed: Path
) -> dict[str, Any]:
    """Many clients polling the same few completed jobs at once: reads of one id overlap.

    Every other status point gives each wrk thread ids of its own, so this is the one
    that shows what a gateway answers when a read of an id is still in flight.
    """
    cfg = ctx.cfg
    few = ctx.raw / f"{name}-overlap-ids.txt"
    few.write_text("\n".join(completed.read_text().split()[: cfg.overlap_jobs]) + "\n")
    args = [str(few), READ_PATH[name], "", expected_status(name, "completed"), "shared"]
    c = max(cfg.concurrencies)
    rec = timed(system, _wrk(system.url, "read.lua", args, c, cfg.duration_s))
    ctx.log(
        f"  {name} GET {cfg.overlap_jobs} completed jobs from {c} connections: "
        f"{rec['rps']:.0f}/s, wrong answers {rec['wrong']} of {rec['requests']}"
    )
    return rec


def _wait_cost(ctx: Ctx, system: stacks.System, files: dict[str, Path]) -> dict[str, Any]:
    cfg = ctx.cfg
    c = 8
    done = expected_status("longhaul", "completed")
    out: dict[str, Any] = {}
    out["completed_wait0"] = timed(
        system,
        _wrk(
            system.url,
            "read.lua",
            [str(files["completed"]), "/v1/jobs/", "", done],
            c,
            cfg.duration_s,
        ),
    )
    out["completed_wait"] = timed(
        system,
        _wrk(
            system.url,
            "read.lua",
            [str(files["completed"]), "/v1/jobs/", f"?wait={cfg.hold_wait_s:g}", done],
            c,
            cfg.duration_s,
        ),
    )
    # Hold: clients each parked in a long-poll on a job that will not complete.
    hold = timed(
        system,
        _wrk(
            system.url,
            "read.lua",
            [
                str(files["pending"]),
                "/v1/jobs/",
                f"?wait={cfg.hold_wait_s:g}",
                expected_status("longhaul", "pending"),
            ],
            cfg.hold_clients,
            cfg.hold_wait_s + 1,
            timeout_s=cfg.hold_wait_s + 5,
        ),
    )
    hold["reads_per_wait"] = _reads_per_wait(cfg.hold_wait_s, *_poll_constants(REPO))
    out["hold"] = hold
    # Detection lag: 1 s sleep jobs observed by ?wait= or by polling every Retry-After (1 s).
    for observe in ("wait", "poll"):
        params = {
            "url": system.url,
            "api": "v1",
            "rate": cfg.lag_rate,
            "duration_s": cfg.lag_duration_s,
            "kind": "sleep",
            "input": {"seconds": 1},
            "observe": observe,
            "wait_s": cfg.wait_s,
            "poll_s": 1.0,
            "settle_timeout_s": 20,
        }
        out[f"lag_{observe}"] = load.openloop(params, ctx.raw / f"lag-{observe}.json", 90)
    ctx.log(
        f"  longhaul ?wait: completed wait=0 {out['completed_wait0']['rps']:.0f}/s vs "
        f"wait={cfg.hold_wait_s:g} {out['completed_wait']['rps']:.0f}/s; "
        f"{cfg.hold_clients} parked long-polls cost "
        f"gateway {hold['cpu_s'].get('gateway', 0) / hold['window_s']:.2f} + dev server "
        f"{hold['cpu_s'].get('devserver', 0) / hold['window_s']:.2f} CPU-s/s; lag p50 wait "
        f"{out['lag_wait']['observe_lag_ms']['p50']} ms vs poll "
        f"{out['lag_poll']['observe_lag_ms']['p50']} ms"
    )
    return out


def _reads_per_wait(wait_s: float, first: float, cap: float, factor: float) -> int:
    """Resonate reads of one ?wait= long-poll on a job that stays pending (gateway backoff)."""
    t, delay, reads = 0.0, first, 1
    while t + delay < wait_s:
        t += delay
        reads += 1
        delay = min(delay * factor, cap)
    return reads + 1  # the read after the last (shortened) sleep


def e2e(ctx: Ctx, name: str) -> dict[str, Any]:
    """Open-loop echo jobs at a fixed rate: latency from due time to success observed; memory."""
    cfg = ctx.cfg
    system = _start(ctx, name, f"{name}-e2e")
    try:
        # Warm-up: a fresh process pays its lazy imports on its first requests.
        ids = client.post_jobs(system.url, API[name], 50)
        if name != "reference":
            client.get_all(system.url, READ_PATH[name], ids)
        time.sleep(0.5)
        params = {
            "url": system.url,
            "api": API[name],
            "rate": cfg.e2e_rate,
            "duration_s": cfg.e2e_duration_s,
            "kind": "echo",
            "input": {"n": 1, "s": "bench"},
            "observe": "poll" if name == "reference" else "wait",
            "wait_s": cfg.wait_s,
            "poll_s": cfg.ref_poll_s,
            "settle_timeout_s": 30,
            "resonate_url": getattr(getattr(system, "stack", None), "resonate_url", None),
        }
        resonate_url = params["resonate_url"] if not ctx.resonate_url else None
        commits = cost.commit_buckets(resonate_url) if resonate_url else None
        rec = timed(
            system,
            lambda: load.openloop(params, ctx.raw / f"{name}-e2e.json", cfg.e2e_duration_s + 120),
        )
        if commits is not None:
            # Where a settle waits besides the state machine: the dev server's fsync'd commits.
            rec["devserver_commits"] = cost.commit_summary(
                commits, cost.commit_buckets(resonate_url)
            )
        ctx.log(
            f"  {name} e2e at {cfg.e2e_rate:g}/s: p50 {rec['e2e_ms']['p50']} ms "
            f"p99 {rec['e2e_ms']['p99']} ms (settled p50 {rec['settled_ms']['p50']} ms), "
            f"{rec['succeeded']}/{rec['jobs']} ok"
        )
        return rec
    finally:
        system.stop()


def scaling(ctx: Ctx, name: str) -> dict[str, Any]:
    """Completed jobs per second under closed-loop submission, per worker-process count."""
    cfg = ctx.cfg
    out: dict[str, Any] = {}
    for n in cfg.scaling_workers:
        kw = {"workers": n} if name == "longhaul" else {"concurrency": n}
        system = _start(ctx, name, f"{name}-scaling-{n}", **kw)
        try:
            base = system.completed()
            warm = load.wrk(
                system.url,
                "submit.lua",
                [API[name], f"w{n}-{time.time_ns()}"],
                connections=4,
                duration_s=cfg.warmup_s,
            )
            _drain(system, base + warm["requests"], 30)
            c0 = system.completed()
            rec = timed(
                system,
                _wrk(
                    system.url,
                    "submit.lua",
                    [API[name], f"s{n}-{time.time_ns()}"],
                    cfg.scaling_connections,
                    cfg.scaling_duration_s,
                ),
            )
            c1 = system.completed()
            rec["completed_in_window"] = c1 - c0
            rec["completed_per_s"] = round((c1 - c0) / rec["duration_s"], 1)
            drained = _drain(system, c0 + rec["requests"], 120)
            rec["drain_s"] = drained
            if drained is not None:
                rec["completion_rate"] = round(rec["requests"] / (rec["duration_s"] + drained), 1)
            out[str(n)] = rec
            ctx.log(
                f"  {name} {n} worker process(es): submitted {rec['rps']:.0f}/s, completed "
                f"{rec['completed_per_s']:.0f}/s in the window, all done after +{drained} s"
            )
        finally:
            system.stop()
    return out


def profiles(ctx: Ctx) -> dict[str, Any]:
    """py-spy on the gateway (status, then submit) and on the dev server and a worker (submit)."""
    cfg = ctx.cfg
    system = _longhaul(ctx, "profile")
    out: dict[str, Any] = {}
    try:
        f = _completed_ids(ctx, system, "v1", "profile")
        load.wrk(system.url, "read.lua", [str(f), "/v1/jobs/"], connections=8, duration_s=1)
        load.wrk(system.url, "submit.lua", ["v1", "pw"], connections=8, duration_s=1)
        time.sleep(0.5)
        c, d = cfg.profile_connections, cfg.profile_s
        stack = system.stack
        targets = {
            "status": [("gateway", stack.gateway.pid, True, profile.GATEWAY_CATEGORIES)],
            "submit": [
                ("gateway", stack.gateway.pid, True, profile.GATEWAY_CATEGORIES),
                ("worker", stack.workers[0].pid, False, profile.WORKER_CATEGORIES),
            ],
        }
        if stack.devserver is not None:  # not with RESONATE_URL
            targets["submit"].insert(
                1, ("devserver", stack.devserver.pid, False, profile.DEVSERVER_CATEGORIES)
            )
        for path, procs in targets.items():
            spies = []
            for who, pid, subs, _cats in procs:
                spies.append(
                    profile.record(
                        pid, d, ctx.raw / f"pyspy-{path}-{who}.txt", subprocesses=subs, rate=200
                    )
                )
            time.sleep(0.5)
            script, args = (
                ("read.lua", [str(f), "/v1/jobs/"])
                if path == "status"
                else ("submit.lua", ["v1", f"prof-{time.time_ns()}"])
            )
            rec = load.wrk(system.url, script, args, connections=c, duration_s=d - 1)
            for spy in spies:
                try:
                    spy.wait(timeout=d + 30)
                except subprocess.TimeoutExpired:
                    spy.kill()
            out[path] = {
                "rps_under_profiler": rec["rps"],
                "profiles": {
                    who: profile.summarise(ctx.raw / f"pyspy-{path}-{who}.txt", cats)
                    for who, _pid, _subs, cats in procs
                },
            }
            ctx.log(f"  profiled {path} ({rec['rps']:.0f}/s under the profiler)")
    finally:
        system.stop()
    return out


# ── patches: before / after ───────────────────────────────────────────────

PATCH_DIR = Path(__file__).with_name("patches")


ALL_MEASURES = ("status", "submit", "e2e", "growth")


def _patch_info(patch: Path) -> tuple[str, tuple[str, ...]]:
    head = patch.read_text().split("diff --git", 1)[0].splitlines()
    subject = next(
        (ln[len("Subject: ") :] for ln in head if ln.startswith("Subject: ")), patch.stem
    )
    measures = next((ln[len("Measures: ") :] for ln in head if ln.startswith("Measures: ")), "")
    wanted = tuple(m.strip() for m in measures.split(",") if m.strip() in ALL_MEASURES)
    return subject, wanted or ALL_MEASURES


def patch_variants(ctx: Ctx) -> list[dict[str, Any]]:
    """The current tree, then each patch's other side, then all of them: a scratch tree each.

    A patch that applies is measured with it applied (after); a patch the tree already has
    is measured with it reverted (before). Either way the pair is one patch's effect.
    """
    patches = sorted(PATCH_DIR.glob("*.patch"))
    status = {patch.name: patch_state(patch) for patch in patches}
    pending = [p for p in patches if status[p.name] == "applies"]
    applied = [p for p in patches if status[p.name] == "already applied"]
    variants: list[dict[str, Any]] = [
        {
            "name": "current tree",
            "patches": [],
            "reverse": False,
            "root": REPO,
            "measures": ALL_MEASURES,
        }
    ]
    for sign, group, reverse in (("+", pending, False), ("-", applied, True)):
        for patch in group:
            variants.append(
                {
                    "name": f"{sign} {patch.stem}",
                    "patches": [patch],
                    "reverse": reverse,
                    "measures": _patch_info(patch)[1],
                }
            )
        if len(group) > 1:
            variants.append(
                {
                    "name": f"{sign} all patches",
                    "patches": group,
                    "reverse": reverse,
                    "measures": ALL_MEASURES,
                }
            )
    for v in variants[1:]:
        v["root"] = patched_tree(v["patches"], reverse=v["reverse"])
    ctx.log("  patches: " + (", ".join(f"{k} ({v})" for k, v in status.items()) or "none"))
    return [{**v, "status": status} for v in variants]


@functools.cache
def patch_state(patch: Path) -> str:
    """Whether ``patch`` applies to the repository, is already in it, or neither.

    Asked by several phases; the repository does not change during a run.
    """

    def ok(*args: str) -> bool:
        argv = ["git", "apply", "--check", *args, str(patch)]
        return subprocess.run(argv, cwd=REPO, capture_output=True).returncode == 0

    if ok():
        return "applies"
    if ok("--reverse"):
        return "already applied"
    return "does not apply"


def _poll_constants(root: Path) -> tuple[float, float, float]:
    """The gateway's long-poll backoff (first, cap, factor) as ``root``'s gateway defines it.

    In ``services/gateway/waiting/long_polls.py`` (``POLL_*``) since long-polls are pushed; in
    ``routes/jobs.py`` (``_POLL_*``) in older trees.
    """
    import re

    gateway = root / "services" / "gateway"
    for source in (gateway / "waiting" / "long_polls.py", gateway / "routes" / "jobs.py"):
        if not source.exists():
            continue
        text = source.read_text()
        found = {
            k: re.search(rf"^_?POLL_{k}\s*=\s*([0-9.]+)", text, re.M)
            for k in ("FIRST_S", "MAX_S", "FACTOR")
        }
        if all(found.values()):
            return tuple(float(found[k].group(1)) for k in ("FIRST_S", "MAX_S", "FACTOR"))  # type: ignore[union-attr,return-value]
    # A guess here would measure and report a schedule the gateway no longer has.
    raise RuntimeError(f"POLL_FIRST_S/MAX_S/FACTOR not found under {gateway}")


def ab(ctx: Ctx) -> dict[str, Any]:
    """Before/after of every patch: baseline and variants measured the same way, back to back."""
    from resonate_base import PROTOCOL_VERSION

    from bench.procs import memory_kb

    cfg = ctx.cfg
    variants = patch_variants(ctx)
    out: dict[str, Any] = {"patch_status": variants[0]["status"], "variants": {}}
    c, d = cfg.ab_connections, cfg.ab_duration_s
    try:
        for v in variants:
            name, measures = v["name"], v["measures"]
            tag = "ab-" + name.replace(" ", "-")
            rec: dict[str, Any] = {
                "patches": [p.name for p in v["patches"]],
                "reverted": v["reverse"],
                "measures": list(measures),
            }
            rec["reads_per_wait"] = _reads_per_wait(cfg.hold_wait_s, *_poll_constants(v["root"]))
            system = stacks.longhaul(ctx.raw / tag, ctx.env, src_root=v["root"])
            try:
                warm = load.wrk(
                    system.url,
                    "submit.lua",
                    ["v1", f"w-{time.time_ns()}"],
                    connections=4,
                    duration_s=cfg.warmup_s,
                )
                _drain(system, warm["requests"], 30)
                if "status" in measures:
                    f = _completed_ids(ctx, system, "v1", tag)
                    load.wrk(
                        system.url,
                        "read.lua",
                        [str(f), "/v1/jobs/"],
                        connections=8,
                        duration_s=cfg.warmup_s,
                    )
                    rec["status"] = timed(
                        system,
                        _wrk(
                            system.url,
                            "read.lua",
                            [str(f), "/v1/jobs/", "", expected_status("longhaul", "completed")],
                            c,
                            d,
                        ),
                    )
                if "submit" in measures:
                    before = system.completed()
                    rec["submit"] = timed(
                        system, _wrk(system.url, "submit.lua", ["v1", f"a-{time.time_ns()}"], c, d)
                    )
                    _drain(system, before + rec["submit"]["requests"], 60)
                if "e2e" in measures:
                    params = {
                        "url": system.url,
                        "api": "v1",
                        "rate": cfg.e2e_rate,
                        "duration_s": d + 1,
                        "kind": "echo",
                        "input": {"n": 1},
                        "observe": "wait",
                        "wait_s": cfg.wait_s,
                        "poll_s": 0.05,
                        "settle_timeout_s": 30,
                    }
                    rec["e2e"] = timed(
                        system,
                        lambda p=params, t=tag: load.openloop(p, ctx.raw / f"{t}-e2e.json", 120),
                    )
                if "growth" in measures:
                    # The same submit load once the server holds many more promises.
                    t0 = time.monotonic()
                    preload(system, cfg.preload_promises, PROTOCOL_VERSION)
                    rec["preload_s"] = round(time.monotonic() - t0, 2)
                    rec["promises_held"] = system.promise_count()
                    before = system.completed()
                    rec["submit_grown"] = timed(
                        system, _wrk(system.url, "submit.lua", ["v1", f"g-{time.time_ns()}"], c, d)
                    )
                    rec["memory_devserver_kb"] = memory_kb(system.stack.devserver.pid)["rss_kb"]
                    _drain(system, before + rec["submit_grown"]["requests"], 60)
            finally:
                system.stop()
            out["variants"][name] = rec
            ctx.log(
                f"  {name}: "
                + ", ".join(
                    part
                    for part in (
                        f"status {rec['status']['rps']:.0f}/s" if "status" in rec else "",
                        f"submit {rec['submit']['rps']:.0f}/s" if "submit" in rec else "",
                        f"e2e p50 {rec['e2e']['e2e_ms']['p50']} ms" if "e2e" in rec else "",
                        f"submit with {rec['promises_held']} promises held "
                        f"{rec['submit_grown']['rps']:.0f}/s"
                        if "submit_grown" in rec
                        else "",
                    )
                    if part
                )
            )
    finally:
        for v in variants[1:]:
            shutil.rmtree(v["root"], ignore_errors=True)
    return out


ABLATIONS = PATCH_DIR / "ablations"


def _read_rate(ctx: Ctx, system: stacks.LonghaulSystem, api: str, tag: str) -> dict[str, Any]:
    cfg = ctx.cfg
    f = _completed_ids(ctx, system, api, tag)
    path = READ_PATH["reference" if api == "begin" else "longhaul"]
    load.wrk(system.url, "read.lua", [str(f), path], connections=8, duration_s=cfg.warmup_s)
    c = cfg.ablation_connections
    expect = expected_status("reference" if api == "begin" else "longhaul", "completed")
    return timed(
        system, _wrk(system.url, "read.lua", [str(f), path, "", expect], c, cfg.duration_s)
    )


def ablation(ctx: Ctx) -> dict[str, Any]:
    """Status reads of completed jobs, taking the gateway apart step by step (same load each)."""
    proposals = applicable_patches()
    variants: list[tuple[str, list[Path]]] = [("current gateway", [])]
    base = "current gateway"
    if proposals:
        variants.append(("with bench/patches", proposals))
        base = "with bench/patches"
    for patch in sorted(ABLATIONS.glob("*.patch")):
        variants.append((f"{base}, {patch.stem}", [*proposals, patch]))
    out: dict[str, Any] = {}
    for name, patches in variants:
        root = patched_tree(patches) if patches else REPO
        tag = "ablation-" + name.replace(" ", "-").replace("/", "-").replace(",", "")
        try:
            system = _longhaul(ctx, tag, src_root=root)
            try:
                out[name] = _read_rate(ctx, system, "v1", tag)
            finally:
                system.stop()
        finally:
            if patches:
                shutil.rmtree(root, ignore_errors=True)
        rec = out[name]
        ctx.log(
            f"  {name}: {rec['rps']:.0f} reads/s, gateway "
            f"{rec['cpu_ms_per_request']['gateway']:.3f} CPU-ms per read"
        )
    system = _reference(ctx, "ablation-reference")
    try:
        out["Resonate example pattern"] = rec = _read_rate(ctx, system, "begin", "ablation-ref")
    finally:
        system.stop()
    ctx.log(
        f"  example pattern: {rec['rps']:.0f} reads/s, gateway "
        f"{rec['cpu_ms_per_request']['gateway']:.3f} CPU-ms per read"
    )
    return out


def asgi_cost(ctx: Ctx) -> dict[str, Any]:
    """CPU per status read inside one process (bench/asgi_cost.py), per app and gateway variant.

    Rows: the ceiling, the example pattern, the current gateway, the gateway
    before each applied patch that measures status reads, and the gateway
    without each ablated feature. Each runs in a fresh process of its own,
    from its own services/.
    """
    requests = ctx.cfg.asgi_requests
    variants: list[tuple[str, str, list[Path], bool]] = [
        ("bare FastAPI route (ceiling)", "ceiling", [], False),
        ("Resonate example pattern", "reference", [], False),
        ("current gateway", "longhaul", [], False),
        # Tracing (docs/tracing.md) is off in the rows above; these turn it on.
        ("current gateway, tracing on", "longhaul", [], False),
        ("current gateway, tracing on, ratio 0", "longhaul", [], False),
    ]
    for patch in sorted(PATCH_DIR.glob("*.patch")):
        if "status" in _patch_info(patch)[1] and patch_state(patch) == "already applied":
            variants.append((f"current gateway - {patch.stem}", "longhaul", [patch], True))
    for patch in sorted(ABLATIONS.glob("*.patch")):
        variants.append((f"current gateway, {patch.stem}", "longhaul", [patch], False))
    out: dict[str, Any] = {}
    with otlp_sink() as sink:
        for name, app, patches, reverse in variants:
            out[name] = _asgi_variant(ctx, name, app, patches, reverse, requests, sink)
    return out


def _asgi_variant(
    ctx: Ctx, name: str, app: str, patches: list[Path], reverse: bool, requests: int, sink: str
) -> dict[str, Any]:
    env = {k: v for k, v in ctx.env.items() if not k.startswith("OTEL_")}
    if "tracing on" in name:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink
        if name.endswith("ratio 0"):
            env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
            env["OTEL_TRACES_SAMPLER_ARG"] = "0"
    root = patched_tree(patches, reverse=reverse) if patches else REPO
    tag = "asgi-" + name.replace(" ", "-").replace(",", "").replace("(", "").replace(")", "")
    log_file = ctx.raw / f"{tag}.log"
    try:
        with log_file.open("w") as err:
            done = subprocess.run(
                [sys.executable, "-m", "bench.asgi_cost", app, str(requests), "3"],
                cwd=root,
                env={**env, "PYTHONPATH": str(REPO)},
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                timeout=600,
                check=False,
            )
    finally:
        if patches:
            shutil.rmtree(root, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"asgi_cost {name} failed ({done.returncode}); see {log_file}")
    rec = json.loads(done.stdout.strip().splitlines()[-1])
    ctx.log(f"  {name}: {rec['us_per_read']:.1f} us per read")
    return rec


def preload(
    system: stacks.LonghaulSystem, target: int, protocol_version: str, limit_s: float = 60
) -> None:
    """Create plain promises straight on the dev server until it holds ``target`` of them.

    wrk runs for whole seconds (its main thread sleeps the duration), so it runs
    in slices sized from the rate it reached so far.
    """
    deadline = time.monotonic() + limit_s
    timeout_at = str(int(time.time() * 1000) + 24 * 3600 * 1000)
    rate = 2000.0
    while time.monotonic() < deadline:
        remaining = target - (system.promise_count() or 0)
        if remaining <= 0:
            return
        seconds = min(20.0, max(1.0, remaining / rate))
        result = load.wrk(
            system.stack.resonate_url,
            "preload.lua",
            # the Lua limit is per wrk thread
            [
                f"pre-{time.time_ns()}",
                str(-(-remaining // load.threads_for(32))),
                protocol_version,
                timeout_at,
            ],
            connections=32,
            duration_s=seconds,
        )
        rate = max(200.0, result["rps"])


def dump(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=False, default=str))
