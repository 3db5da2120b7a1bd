"""Job kinds for tests only, loaded like any team's: ``LONGHAUL_JOB_MODULES=tests.kinds``.

- ``two-steps``: a first step, then a slow second one (kill a worker between them);
- ``overflow``: a step whose result JSON cannot hold (infinity is stored as
  null, and every replay fails to decode it): the case that used to spin;
- ``lossy``: a step that kills its own process (``os._exit``) on every attempt;
- ``hold``: I/O-bound work: holds an execution slot for ``seconds`` in a step
  (a plain wait, not a durable sleep, which would free the slot), then fails
  if asked to (once: no retry).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from longhaul import Context, JobKind, Retry, attempt


class TwoStepsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_dir: str
    second_step_s: float = Field(default=0.0, ge=0, le=60)


def _trace(trace_dir: str, job_id: str, line: str) -> None:
    path = Path(trace_dir)
    path.mkdir(parents=True, exist_ok=True)
    with (path / f"{job_id}.log").open("a") as log:
        log.write(f"{line} pid={os.getpid()}\n")


async def first(ctx: Context, trace_dir: str) -> int:
    _trace(trace_dir, ctx.info.origin_id, "first")
    return 41


async def second(ctx: Context, trace_dir: str, value: int, delay_s: float) -> int:
    _trace(trace_dir, ctx.info.origin_id, f"second attempt={attempt(ctx)}")
    await asyncio.sleep(delay_s)
    return value + 1


async def two_steps(ctx: Context, params: TwoStepsInput) -> dict[str, int]:
    value = await ctx.run(first, params.trace_dir)
    return {"answer": await ctx.run(second, params.trace_dir, value, params.second_step_s)}


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def infinite(ctx: Context) -> list[float]:
    return [float("inf")]


async def overflow(ctx: Context, params: Empty) -> list[float]:
    return await ctx.run(infinite)


async def die(ctx: Context) -> None:
    os._exit(3)


async def lossy(ctx: Context, params: Empty) -> None:
    await ctx.run(die)


class HoldInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(ge=0, le=60)
    fail: bool = False


async def wait(ctx: Context, seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


async def hold(ctx: Context, params: HoldInput) -> dict[str, float]:
    held = await ctx.run(wait, params.seconds)
    if params.fail:
        raise ValueError("failed as asked")
    return {"held": held}


KINDS = [
    JobKind(
        name="two-steps",
        summary="Two durable steps; the second one can be slow.",
        input_model=TwoStepsInput,
        function=two_steps,
        retry=Retry(max_attempts=3, initial_s=0.1),
    ),
    JobKind(
        name="overflow",
        summary="A step result that cannot be stored (infinity).",
        input_model=Empty,
        function=overflow,
        retry=Retry(max_attempts=3, initial_s=0.05, factor=2, max_s=1),
    ),
    JobKind(
        name="lossy",
        summary="Kills its worker in every attempt.",
        input_model=Empty,
        function=lossy,
        retry=Retry(max_attempts=2, initial_s=0.05),
    ),
    JobKind(
        name="hold",
        summary="Holds an execution slot for a while (I/O-bound work), optionally failing.",
        input_model=HoldInput,
        function=hold,
        retry=Retry(max_attempts=1),
    ),
]
