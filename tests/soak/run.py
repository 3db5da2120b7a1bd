"""One soak run: the chaos harness's load and faults, with the sampler running alongside."""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import structlog

from tests.chaos.runner import run_chaos
from tests.chaos.targets import LiveProcess, local_target
from tests.soak.sampler import Sample, sample_until
from tests.soak.settings import SoakSettings
from tests.soak.timeline import job_timeline, memory_timeline, process_usage

log = structlog.get_logger("longhaul.soak")

#: Memory growth is measured after this: imports, pools and caches fill in the first minute.
WARMUP_S = 60.0


def listener_states(processes: list[LiveProcess]) -> dict[str, Any]:
    """Each live worker's own account of its SSE listener (its /readyz body)."""
    states: dict[str, Any] = {}
    for process in processes:
        if not process.name.startswith("worker-") or process.ready_url is None:
            continue
        try:
            with urllib.request.urlopen(process.ready_url, timeout=2) as response:  # noqa: S310
                states[process.name] = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 503: not ready, and the body says why
            states[process.name] = json.loads(exc.read() or b"{}")
        except OSError as exc:
            states[process.name] = {"status": "unreachable", "reason": str(exc)}
    return states


async def run_soak(settings: SoakSettings) -> dict[str, Any]:
    chaos = settings.chaos()
    fault_rng = random.Random(None if settings.seed is None else settings.seed + 1)
    log_dir = settings.log_dir or Path(tempfile.mkdtemp(prefix="longhaul-soak-"))
    samples: list[Sample] = []
    stop = asyncio.Event()
    with local_target(chaos, log_dir, fault_rng) as target:
        assert target.processes is not None
        sampler = asyncio.create_task(
            sample_until(target.processes, settings.sample_every, stop, samples)
        )
        try:
            report, run = await run_chaos(chaos, target)
        finally:
            stop.set()
            await sampler
        listeners = listener_states(target.processes())
    usage = process_usage(samples, run.started_at, WARMUP_S)
    workers = [u for u in usage.values() if u["name"].startswith("worker-")]
    acked = [j for j in run.jobs if j.acked_at is not None]
    wall = max(run.finished_at - run.started_at, 1e-9)
    return {
        "ok": report["ok"] and all(s.get("status") == "ready" for s in listeners.values()),
        "duration_s": settings.duration_s,
        "longest_lived_worker_s": max((w["lived_s"] for w in workers), default=0.0),
        "throughput": {
            "acknowledged": len(acked),
            "succeeded": sum(1 for j in acked if j.status == "succeeded"),
            "per_s": round(len(acked) / wall, 3),
        },
        "listeners": listeners,
        "processes": usage,
        "timeline": job_timeline(run.jobs, run.started_at, settings.bucket),
        "memory_timeline": memory_timeline(samples, run.started_at, settings.bucket),
        "chaos": report,
        "log_dir": str(log_dir),
    }
