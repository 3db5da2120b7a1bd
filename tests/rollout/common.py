"""Steps and input shared by the versions of the ``report`` kind."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from longhaul import Context


class ReportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_dir: str
    pause_s: float = Field(default=0.0, ge=0, le=60)


def trace(trace_dir: str, job_id: str, line: str) -> None:
    path = Path(trace_dir)
    path.mkdir(parents=True, exist_ok=True)
    with (path / f"{job_id}.log").open("a") as log:
        log.write(f"{line} pid={os.getpid()}\n")


async def load(ctx: Context, trace_dir: str) -> list[int]:
    trace(trace_dir, ctx.info.origin_id, "load")
    return [1, 2, 3]


async def render(ctx: Context, trace_dir: str, rows: list[int]) -> str:
    trace(trace_dir, ctx.info.origin_id, "render")
    return "rows: " + ",".join(str(r) for r in rows)
