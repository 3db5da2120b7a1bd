"""Long-polls the run's jobs while faults happen, and records what each one answered (read-only).

A few clients each pick an acknowledged job at random and hold
``GET /v1/jobs/{id}?wait=W`` (W random up to ``max_wait_s``), again and again,
through gateway kills (the long-poll fails; the client simply asks again) and
dev-server restarts (the gateway's push stream is lost with them). What they
saw is judged after the run (``tests/chaos/longpolls.py``): a terminal answer
must be the job's outcome, and ``pending`` may only come once the wait truly
elapsed and only for a job not yet settled.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from tests.chaos.model import JobRecord


@dataclass(frozen=True)
class LongPoll:
    job_id: str
    wait_s: float
    sent_at: float
    answered_at: float
    #: HTTP status; 0 when the request itself failed (``error`` says how).
    code: int
    status: str | None = None
    result: Any = None
    error: str | None = None


class LongPollProbe:
    def __init__(
        self,
        base_url: str,
        jobs: Sequence[JobRecord],
        *,
        clients: int,
        max_wait_s: float,
        rng: random.Random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._jobs = jobs
        self._clients = clients
        self._max_wait_s = max_wait_s
        self._rng = rng
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(max_wait_s + 10.0, connect=3.0),
            transport=transport,
        )
        self.polls: list[LongPoll] = []

    async def run(self, stop: asyncio.Event) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(self._clients):
                    group.create_task(self._client(stop))
        finally:
            await self._http.aclose()

    async def _client(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Jobs the driver has not yet seen end: the ones a settle wakes.
            waiting = [j for j in self._jobs if j.job_id is not None and not j.terminal]
            if not waiting:
                await asyncio.sleep(0.2)
                continue
            job = self._rng.choice(waiting)
            await self._poll(str(job.job_id), round(self._rng.uniform(0.5, self._max_wait_s), 2))

    async def _poll(self, job_id: str, wait: float) -> None:
        sent = time.time()
        try:
            response = await self._http.get(f"/v1/jobs/{job_id}", params={"wait": f"{wait:g}"})
        except httpx.HTTPError as exc:
            self.polls.append(
                LongPoll(job_id, wait, sent, time.time(), 0, error=type(exc).__name__)
            )
            await asyncio.sleep(0.1)  # a killed gateway: ask again shortly
            return
        answered = time.time()
        if response.status_code != 200:
            self.polls.append(
                LongPoll(job_id, wait, sent, answered, response.status_code, error="http")
            )
            await asyncio.sleep(0.1)
            return
        body = response.json()
        self.polls.append(
            LongPoll(
                job_id,
                wait,
                sent,
                answered,
                200,
                status=body.get("status"),
                result=body.get("result", body.get("error")),
            )
        )
