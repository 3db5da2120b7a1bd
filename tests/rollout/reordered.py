"""``report`` changed without a new version: breaks the jobs in flight."""

from __future__ import annotations

from datetime import timedelta

from longhaul import Context, JobKind
from tests.rollout.common import ReportInput, load, render


async def report_reordered(ctx: Context, params: ReportInput) -> dict[str, str]:
    header = await ctx.run(render, params.trace_dir, [0])  # a new first step
    await ctx.sleep(timedelta(seconds=params.pause_s))
    rows = await ctx.run(load, params.trace_dir)
    return {"report": header + " / " + ",".join(map(str, rows)), "code": "reordered"}


KINDS = [JobKind(name="report", summary="Load, pause, render.", input_model=ReportInput,
                 function=report_reordered)]  # fmt: skip
