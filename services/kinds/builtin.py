"""``echo``, ``sleep`` and ``pipeline``: the default ``LONGHAUL_JOB_MODULES``.

They are defined with the same public API as any team's kinds (``longhaul``)
and loaded the same way. Durable functions are ``async``; blocking or CPU-bound
work goes through ``asyncio.to_thread`` so the event loop keeps heartbeating
leases. Every side-effecting step is a ``ctx.run`` step: once it has
completed, a crash or a retry resumes after it instead of running it again.
Delivery is at-least-once, so each step is idempotent (the publish step
overwrites one file per job).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, RootModel

from longhaul import Context, JobKind, PermanentError, Retry

log = structlog.get_logger("longhaul.kinds.builtin")

# ── inputs and outputs ──────────────────────────────────────────────────────


class EchoInput(RootModel[dict[str, Any]]):
    """Any JSON object; the result is the same object."""


class SleepInput(BaseModel):
    """Wait durably for ``seconds``; no process holds the job while it waits."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0, le=3600, description="How long to wait (0 < seconds <= 3600).")


class SleepOutput(BaseModel):
    slept: float


#: |value x scale| stays below 1e103, so squares and sums of 100,000 of them
#: stay finite: a statistic that overflowed to infinity could not be stored.
Value = Annotated[float, Field(ge=-1e100, le=1e100, allow_inf_nan=False)]


class PipelineInput(BaseModel):
    """A three-step report: normalise the values, compute statistics, publish.

    Each side-effecting step is a durable ``ctx.run`` step, so a crash resumes
    from the last completed one.
    """

    model_config = ConfigDict(extra="forbid")

    values: list[Value] = Field(min_length=1, max_length=100_000)
    scale: float = Field(
        default=1.0, gt=0, le=1000, description="Multiplier applied in the normalise step."
    )
    step_delay_s: float = Field(
        default=0.0, ge=0, le=60, description="Simulated work per step, to make steps observable."
    )


class PipelineStats(BaseModel):
    count: int
    sum: float
    mean: float
    min: float
    max: float
    stdev: float


class PipelineOutput(BaseModel):
    stats: PipelineStats
    published_to: str


# ── what the worker provides ────────────────────────────────────────────────


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
class BuiltinDeps:
    """Given to the built-in kinds by the worker (``ctx.get_dependency``)."""

    outbox: Outbox
    #: Called as each pipeline step starts (metrics, the chaos ledger).
    enter_step: Callable[[Context, str, str], Awaitable[None]]


async def _enter_step(ctx: Context, step: str, delay_s: float) -> None:
    await ctx.get_dependency(BuiltinDeps).enter_step(ctx, "pipeline", step)
    if delay_s:
        await asyncio.sleep(delay_s)


# ── echo ────────────────────────────────────────────────────────────────────


async def echo(ctx: Context, params: EchoInput) -> dict[str, Any]:
    return params.root


# ── sleep ───────────────────────────────────────────────────────────────────


async def sleep(ctx: Context, params: SleepInput) -> dict[str, Any]:
    # Durable: the worker holds nothing while waiting; the server wakes the job.
    await ctx.sleep(timedelta(seconds=params.seconds))
    return {"slept": params.seconds}


# ── pipeline ────────────────────────────────────────────────────────────────


async def normalize(ctx: Context, values: list[float], scale: float, delay_s: float) -> list[float]:
    await _enter_step(ctx, "normalize", delay_s)
    return [v * scale for v in values]


def _statistics(values: list[float]) -> dict[str, float | int]:
    count = len(values)
    total = math.fsum(values)
    mean = total / count
    variance = math.fsum((v - mean) ** 2 for v in values) / count
    stats = {
        "count": count,
        "sum": total,
        "mean": mean,
        "min": min(values),
        "max": max(values),
        "stdev": math.sqrt(variance),
    }
    if not all(math.isfinite(v) for v in stats.values()):
        # JSON has no infinity: stored, it would come back as null and fail
        # every replay. A deterministic overflow is no case for a retry.
        raise PermanentError(f"statistics overflow: {stats}")
    return stats


async def compute_stats(
    ctx: Context, values: list[float], delay_s: float
) -> dict[str, float | int]:
    await _enter_step(ctx, "compute_stats", delay_s)
    return await asyncio.to_thread(_statistics, values)


async def publish(ctx: Context, stats: dict[str, float | int], delay_s: float) -> str:
    await _enter_step(ctx, "publish", delay_s)
    job_id = ctx.info.origin_id
    outbox = ctx.get_dependency(BuiltinDeps).outbox
    return await asyncio.to_thread(outbox.publish, job_id, {"job_id": job_id, "stats": stats})


async def pipeline(ctx: Context, params: PipelineInput) -> dict[str, Any]:
    normalized = await ctx.run(normalize, params.values, params.scale, params.step_delay_s)
    stats = await ctx.run(compute_stats, normalized, params.step_delay_s)
    where = await ctx.run(publish, stats, params.step_delay_s)
    return {"stats": stats, "published_to": where}


# A worker crash counts as an attempt too: chaos runs kill workers under the
# same jobs several times, so the built-in kinds allow a generous number.
BUILTIN_RETRY = Retry(max_attempts=8, initial_s=0.5, factor=2.0, max_s=30.0)

KINDS = [
    JobKind(
        name="echo",
        summary="Returns its input object.",
        input_model=EchoInput,
        function=echo,
        retry=BUILTIN_RETRY,
    ),
    JobKind(
        name="sleep",
        summary="Durable sleep, then {'slept': seconds}.",
        input_model=SleepInput,
        output_model=SleepOutput,
        function=sleep,
        timeout_s=2 * 3600.0,
        retry=BUILTIN_RETRY,
    ),
    JobKind(
        name="pipeline",
        summary="Multi-step durable report: normalize, compute statistics, publish.",
        input_model=PipelineInput,
        output_model=PipelineOutput,
        function=pipeline,
        retry=BUILTIN_RETRY,
    ),
]
