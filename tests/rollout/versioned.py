"""``report`` changed the right way: version 2 for new jobs, version 1 kept for old ones."""

from __future__ import annotations

from datetime import timedelta

from longhaul import Context, JobKind
from tests.rollout.common import ReportInput, load, render
from tests.rollout.v1 import report_v1


async def report_v2(ctx: Context, params: ReportInput) -> dict[str, str]:
    header = await ctx.run(render, params.trace_dir, [0])
    await ctx.sleep(timedelta(seconds=params.pause_s))
    rows = await ctx.run(load, params.trace_dir)
    return {"report": header + " / " + ",".join(map(str, rows)), "code": "v2"}


KINDS = [
    JobKind(
        name="report",
        summary="Load, pause, render.",
        input_model=ReportInput,
        function=report_v2,
        version=2,
        previous_versions={1: report_v1},
    )
]
