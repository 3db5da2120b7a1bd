"""``report`` version 1."""

from __future__ import annotations

from datetime import timedelta

from longhaul import Context, JobKind
from tests.rollout.common import ReportInput, load, render


async def report_v1(ctx: Context, params: ReportInput) -> dict[str, str]:
    rows = await ctx.run(load, params.trace_dir)
    await ctx.sleep(timedelta(seconds=params.pause_s))
    return {"report": await ctx.run(render, params.trace_dir, rows), "code": "v1"}


KINDS = [JobKind(name="report", summary="Load, pause, render.", input_model=ReportInput,
                 function=report_v1)]  # fmt: skip
