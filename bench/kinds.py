"""Job kinds for the benchmarks, loaded like any team's: ``LONGHAUL_JOB_MODULES=bench.kinds``.

- ``io-wait``: one durable step that waits ``ms`` milliseconds without using
  the CPU, standing in for a call to a downstream API. A worker runs at most
  ``LONGHAUL_WORKER_CONCURRENCY`` of them at once, so its throughput is bounded
  by slots / latency, not by the CPU: the kind that shows adding workers adds
  throughput (``bench/io_scaling.py``).
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from longhaul import Context, JobKind


class IoWaitInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ms: int = Field(default=200, ge=0, le=10_000, description="How long the downstream call takes.")


async def downstream_call(ctx: Context, ms: int) -> int:
    await asyncio.sleep(ms / 1000)
    return ms


async def io_wait(ctx: Context, params: IoWaitInput) -> dict[str, int]:
    return {"waited_ms": await ctx.run(downstream_call, params.ms)}


KINDS = [
    JobKind(
        name="io-wait",
        summary="One durable step that waits (a downstream API call without the API).",
        input_model=IoWaitInput,
        function=io_wait,
    )
]
