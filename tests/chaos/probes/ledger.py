"""Read the execution ledger (services/contract/ledger.py) for a set of job ids.

The ledger is keyed by job id: it can be read for ids we know (the ones we
submitted and any other id the gateway answered), not enumerated, so an
execution of a job id nobody ever told us about is outside what it can show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from resonate.resonate import Resonate

from services.contract.ledger import PromiseLedger
from tests.chaos.model import STEPS, Execution

#: The SDK retries an unreachable server forever: every read is bounded.
READ_TIMEOUT_S = 30.0


async def read_executions(
    resonate_url: str,
    job_ids: Iterable[str],
    *,
    token: str | None = None,
    concurrency: int = 32,
    steps: tuple[str, ...] = STEPS,
) -> dict[str, list[Execution]]:
    """Every recorded step execution of each job, in step order then ``n``."""
    client = Resonate(
        url=resonate_url, token=token, sources=[], env={}, subscription_refresh_secs=0
    )
    ledger = PromiseLedger(client.promises, "chaos-reader")
    slots = asyncio.Semaphore(concurrency)

    async def one(job_id: str) -> tuple[str, list[Execution]]:
        found: list[Execution] = []
        for step in steps:
            async with slots, asyncio.timeout(READ_TIMEOUT_S):
                entries = await ledger.read(job_id, step)
            found.extend(Execution(e.step, e.n, e.pid, e.at_ms) for e in entries)
        return job_id, found

    try:
        return dict(await asyncio.gather(*(one(job_id) for job_id in sorted(set(job_ids)))))
    finally:
        await client.stop()
