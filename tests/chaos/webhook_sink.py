"""The webhook side of a chaos run: a receiver on 127.0.0.1 and ``notify`` on every job.

Workers sign with ``TEST_SECRET`` and retry on a short schedule; the receiver
answers 503 to the first attempt of about one job in eight (chosen by the
job's id), so retries happen under the faults too. After the load the run
waits (bounded) until every terminal job's webhook has arrived, then
``probes.webhooks.verdict`` judges what arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Sequence
from typing import Any

import structlog

from tests.chaos.model import JobRecord
from tests.chaos.probes.webhooks import job_of, missing, verdict
from tests.webhook_receiver import TEST_SECRET, Delivery, Receiver

log = structlog.get_logger("longhaul.chaos.webhooks")

#: Short delays: the whole schedule is ~11 s, so a run's tail stays short.
RETRY_DELAYS_S = "0.3,0.5,1,1,2,2,2,2"
WORKER_ENV = {
    "LONGHAUL_WEBHOOK_SECRETS": TEST_SECRET,
    "LONGHAUL_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "LONGHAUL_WEBHOOK_RETRY_DELAYS_S": RETRY_DELAYS_S,
    "LONGHAUL_WEBHOOK_ATTEMPT_TIMEOUT_S": "5",
}
GATEWAY_ENV = {"LONGHAUL_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}


def _refuse_first(delivery: Delivery, so_far: Sequence[Delivery]) -> bool:
    job_id = job_of(delivery) or ""
    if hashlib.sha256(job_id.encode()).digest()[0] % 8:
        return False
    return sum(1 for d in so_far if job_of(d) == job_id) == 1


class WebhookSink:
    def __init__(self) -> None:
        self.receiver = Receiver(refuse_first=_refuse_first)

    async def start(self, jobs: Sequence[JobRecord]) -> WebhookSink:
        await self.receiver.start()
        for job in jobs:
            job.body = {**job.body, "notify": {"url": self.receiver.url}}
        return self

    async def finish(
        self, jobs: Sequence[JobRecord], wait_s: float, report: dict[str, Any]
    ) -> None:
        """Wait (at most ``wait_s``) for every terminal job's webhook; add the verdict."""
        started = time.time()
        deadline = started + wait_s
        while missing(jobs, self.receiver.deliveries) and time.time() < deadline:
            # Wakes on each delivery (or at the deadline) to look again.
            with contextlib.suppress(TimeoutError):
                await self.receiver.wait_for(
                    len(self.receiver.deliveries) + 1, max(0.01, deadline - time.time())
                )
        # A little longer: duplicates still in flight are counted, not missed.
        await asyncio.sleep(1.0)
        await self.receiver.stop()
        section, violations = verdict(jobs, self.receiver.deliveries)
        section["tail_s"] = round(time.time() - started, 2)
        report["webhooks"] = section
        report["violations"].extend(violations)
        report["ok"] = not report["violations"]
        log.info("webhooks", **{k: v for k, v in section.items() if k != "missing_examples"})
