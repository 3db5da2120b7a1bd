"""Implementations of every kind in ``services.contract.KINDS``.

Durable functions are ``async``; blocking or CPU-bound work goes through
``asyncio.to_thread`` so the event loop keeps heartbeating leases. Every
side-effecting step is a ``ctx.run`` step: once it has completed, a crash
resumes after it instead of running it again. Delivery is at-least-once, so
each step is idempotent (the publish step overwrites one file per job).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from resonate.context import Context
from resonate.error import Suspended
from resonate.resonate import Resonate
from resonate.retry import Never
from resonate.timing import now_ms

from services.contract import KINDS, PipelineInput, SleepInput
from services.contract.ledger import PromiseLedger
from services.worker.metrics import WorkerMetrics

log = structlog.get_logger("longhaul.worker.jobs")
DurableFn = Callable[..., Awaitable[Any]]


@dataclass
class Outbox:
    """Where finished reports go: one file per job, replaced atomically."""

    directory: Path | None

    def publish(self, job_id: str, report: dict[str, Any]) -> str:
        if self.directory is None:
            log.info("report published", job_id=job_id, report=report)
            return "log"
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{job_id}.json"
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(report, sort_keys=True))
        tmp.replace(target)
        return str(target)


@dataclass
class JobDeps:
    metrics: WorkerMetrics
    outbox: Outbox
    ledger: PromiseLedger | None = None
    clock: Callable[[], int] = field(default=now_ms)


async def _enter_step(ctx: Context, kind: str, step: str, delay_s: float) -> None:
    deps = ctx.get_dependency(JobDeps)
    deps.metrics.steps.labels(kind, step).inc()
    if deps.ledger is not None:
        await deps.ledger.record(ctx.info.origin_id, step, deps.clock())
    if delay_s:
        await asyncio.sleep(delay_s)


# ── echo ────────────────────────────────────────────────────────────────────


async def echo(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise TypeError("echo input must be a JSON object")
    return payload


# ── sleep ───────────────────────────────────────────────────────────────────


async def sleep(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    params = SleepInput.model_validate(payload)
    # Durable: the worker holds nothing while waiting; the server wakes the job.
    await ctx.sleep(timedelta(seconds=params.seconds))
    return {"slept": params.seconds}


# ── pipeline ────────────────────────────────────────────────────────────────


async def normalize(ctx: Context, values: list[float], scale: float, delay_s: float) -> list[float]:
    await _enter_step(ctx, "pipeline", "normalize", delay_s)
    return [v * scale for v in values]


def _statistics(values: list[float]) -> dict[str, float | int]:
    count = len(values)
    total = math.fsum(values)
    mean = total / count
    variance = math.fsum((v - mean) ** 2 for v in values) / count
    return {
        "count": count,
        "sum": total,
        "mean": mean,
        "min": min(values),
        "max": max(values),
        "stdev": math.sqrt(variance),
    }


async def compute_stats(
    ctx: Context, values: list[float], delay_s: float
) -> dict[str, float | int]:
    await _enter_step(ctx, "pipeline", "compute_stats", delay_s)
    return await asyncio.to_thread(_statistics, values)


async def publish(ctx: Context, stats: dict[str, float | int], delay_s: float) -> str:
    await _enter_step(ctx, "pipeline", "publish", delay_s)
    job_id = ctx.info.origin_id
    outbox = ctx.get_dependency(JobDeps).outbox
    return await asyncio.to_thread(outbox.publish, job_id, {"job_id": job_id, "stats": stats})


async def pipeline(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    params = PipelineInput.model_validate(payload)
    normalized = await ctx.run(normalize, params.values, params.scale, params.step_delay_s)
    stats = await ctx.run(compute_stats, normalized, params.step_delay_s)
    where = await ctx.run(publish, stats, params.step_delay_s)
    return {"stats": stats, "published_to": where}


IMPLEMENTATIONS: dict[str, DurableFn] = {
    "echo": echo,
    "sleep": sleep,
    "pipeline": pipeline,
}


def instrumented(kind: str, fn: DurableFn, metrics: WorkerMetrics) -> DurableFn:
    @functools.wraps(fn)
    async def run(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        metrics.started.labels(kind).inc()
        metrics.in_progress.labels(kind).inc()
        started = time.perf_counter()
        try:
            result = await fn(ctx, *args, **kwargs)
        except Suspended:
            metrics.suspended.labels(kind).inc()
            raise
        except Exception:
            metrics.failed.labels(kind).inc()
            log.warning("job execution failed", kind=kind, job_id=ctx.info.id, exc_info=True)
            raise
        else:
            metrics.completed.labels(kind).inc()
            return result
        finally:
            metrics.in_progress.labels(kind).dec()
            metrics.duration.labels(kind).observe(time.perf_counter() - started)

    return run


def register_jobs(resonate: Resonate, deps: JobDeps) -> None:
    """Register every contract kind under its function name (and nothing else)."""
    missing = set(KINDS) - set(IMPLEMENTATIONS)
    if missing:
        raise RuntimeError(f"no implementation for job kinds: {sorted(missing)}")
    resonate.with_dependency(deps)
    for name, kind in KINDS.items():
        # A job's own function never retries: its input is validated and its
        # steps carry their own retry policy.
        resonate.register(
            instrumented(name, IMPLEMENTATIONS[name], deps.metrics),
            name=kind.function,
            retry_policy=Never(),
        )
