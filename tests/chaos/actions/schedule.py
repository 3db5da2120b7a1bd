"""When each fault happens: spread over the window, kinds interleaved, one at a time."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping

import structlog

from tests.chaos.actions.base import FaultInjector
from tests.chaos.model import FaultRecord

log = structlog.get_logger("longhaul.chaos.faults")

#: The first fault waits for this share of the window, so jobs are in flight.
LEAD_SHARE = 0.1


def build_plan(
    counts: Mapping[str, int], window_s: float, rng: random.Random
) -> list[tuple[float, str]]:
    """``(offset_s, kind)`` pairs: evenly spaced over the window, each kind spread out."""
    slots = [
        ((j + rng.uniform(0.2, 0.8)) / count, kind)
        for kind, count in counts.items()
        for j in range(count)
    ]
    kinds = [kind for _, kind in sorted(slots)]
    if not kinds:
        return []
    lead = window_s * LEAD_SHARE
    step = (window_s - lead) / len(kinds)
    return [(lead + i * step, kind) for i, kind in enumerate(kinds)]


async def run_faults(
    injector: FaultInjector, plan: list[tuple[float, str]], start: float
) -> list[FaultRecord]:
    """Inject the plan in order; a fault that overruns its slot delays the next one."""
    records = []
    for offset, kind in plan:
        await asyncio.sleep(max(0.0, start + offset - time.time()))
        record = await asyncio.to_thread(injector.inject, kind)
        log.info(
            "fault",
            kind=record.kind,
            target=record.target,
            at_s=round(record.at - start, 2),
            recovered_after_s=(
                round(record.recovered_at - record.at, 2) if record.recovered_at else None
            ),
            error=record.error,
        )
        records.append(record)
    return records
