"""The load driver: a careful client of the job API.

Each job is submitted with its own Idempotency-Key, and the same request is
sent again (same key, same body) after a connection error, a timeout or a 5xx
until a 202 arrives or the job's submission budget runs out; then the job is
read (long-polling) until it is terminal or the run's deadline passes, again
retrying every error. Submissions are paced over the fault window so that
faults meet jobs in flight.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
import structlog

from tests.chaos.model import TERMINAL, JobRecord

log = structlog.get_logger("longhaul.chaos.driver")

_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 1.0


class Deadline:
    """When status reads give up: the hard bound until the fault window closes, then fixed."""

    def __init__(self, hard: float) -> None:
        self._hard = hard
        self._at: float | None = None

    def fix(self, at: float) -> float:
        self._at = min(at, self._hard)
        return self._at

    @property
    def at(self) -> float:
        return self._hard if self._at is None else self._at

    def remaining(self) -> float:
        return self.at - time.time()


def _error_kind(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    return "transport"


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


def _field(response: httpx.Response, name: str) -> str | None:
    """A string field of a JSON object body; None if the body is not one (a gateway bug)."""
    try:
        value = response.json().get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _parse_ts(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


class LoadDriver:
    def __init__(
        self,
        base_url: str,
        *,
        concurrency: int,
        submit_budget_s: float,
        poll_wait_s: float,
        rng: random.Random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # Separate slots: long-polls held during an outage must not delay submissions.
        self._submit_slots = asyncio.Semaphore(concurrency)
        self._poll_slots = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(
            max_connections=2 * concurrency, max_keepalive_connections=concurrency
        )
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(10.0, connect=3.0),
            limits=limits,
            transport=transport,
        )
        self._budget_s = submit_budget_s
        self._poll_wait_s = poll_wait_s
        self._rng = rng
        self.all_submitted = asyncio.Event()
        self._unsubmitted = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self, jobs: Sequence[JobRecord], pace_s: float, deadline: Deadline) -> None:
        """Submit job ``i`` at ``start + i * pace_s``; read every acknowledged job to the end."""
        self._unsubmitted = len(jobs)
        if not jobs:
            self.all_submitted.set()
        start = time.time()
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(self._run_job(job, start + job.index * pace_s, deadline))

    async def _run_job(self, job: JobRecord, at: float, deadline: Deadline) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        try:
            job_id, error = await self._post_until_202(job, job.submit_errors, count=True)
            if job_id is None:
                job.rejected = error
            else:
                job.job_id, job.acked_at = job_id, time.time()
        finally:
            self._unsubmitted -= 1
            if self._unsubmitted == 0:
                self.all_submitted.set()
        if job.job_id is not None:
            await self._read_until_terminal(job, deadline)

    async def _post_until_202(
        self, job: JobRecord, errors: Counter[str], *, count: bool
    ) -> tuple[str | None, str | None]:
        give_up_at = time.time() + self._budget_s
        backoff = _FIRST_BACKOFF_S
        headers = {"Idempotency-Key": job.key}
        while True:
            if count:
                job.submit_attempts += 1
            try:
                async with self._submit_slots:
                    response = await self._http.post("/v1/jobs", json=job.body, headers=headers)
            except httpx.HTTPError as exc:
                errors[_error_kind(exc)] += 1
            else:
                if response.status_code == 202:
                    job_id = _field(response, "id")
                    if job_id is not None:
                        job.answered_ids.add(job_id)
                        return job_id, None
                    errors["bad_body"] += 1
                elif not _retryable(response.status_code):
                    return None, f"HTTP {response.status_code}: {response.text[:300]}"
                else:
                    errors[f"http_{response.status_code}"] += 1
            if time.time() + backoff > give_up_at:
                return None, f"no 202 within {self._budget_s:g}s ({dict(errors)})"
            await asyncio.sleep(backoff * self._rng.uniform(0.5, 1.0))
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _read(self, job: JobRecord, job_id: str, wait: float) -> tuple[int, dict[str, Any]]:
        """One status read: (HTTP status, body); status 0 when the request itself failed."""
        try:
            async with self._poll_slots:
                response = await self._http.get(
                    f"/v1/jobs/{job_id}",
                    params={"wait": f"{wait:.2f}"},
                    timeout=httpx.Timeout(wait + 10.0, connect=3.0),
                )
        except httpx.HTTPError as exc:
            job.poll_errors[_error_kind(exc)] += 1
            return 0, {}
        if response.status_code != 200:
            job.poll_errors[f"http_{response.status_code}"] += 1
            return response.status_code, {}
        if _field(response, "id") is None:
            job.poll_errors["bad_body"] += 1
            return 0, {}
        body = response.json()
        job.answered_ids.add(str(body["id"]))
        return 200, body

    async def _read_until_terminal(self, job: JobRecord, deadline: Deadline) -> None:
        assert job.job_id is not None
        backoff = _FIRST_BACKOFF_S
        while (remaining := deadline.remaining()) > 0:
            code, body = await self._read(job, job.job_id, min(self._poll_wait_s, remaining))
            if code != 200:
                # After a 202 the job must exist: a 404 is recorded and read
                # again until the deadline, never taken as an answer.
                if code == 404:
                    job.status = "not_found"
                await asyncio.sleep(min(backoff * self._rng.uniform(0.5, 1.0), remaining))
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            backoff = _FIRST_BACKOFF_S
            job.status = str(body.get("status"))
            if job.status in TERMINAL:
                job.done_at = time.time()
                job.result = body.get("result", body.get("error"))
                job.completed_at = _parse_ts(body.get("completed_at"))
                return

    async def resubmit(self, jobs: Sequence[JobRecord]) -> None:
        """Send each job's request again (same key, same body); record the id and result."""

        async def again(job: JobRecord) -> None:
            job_id, error = await self._post_until_202(job, Counter(), count=False)
            job.resubmitted_id, job.resubmit_error = job_id, error
            if job_id is None:
                return
            give_up_at = time.time() + self._budget_s
            while time.time() < give_up_at:
                code, body = await self._read(job, job_id, 0)
                if code == 200:
                    job.resubmitted_result = body.get("result")
                    return
                await asyncio.sleep(_FIRST_BACKOFF_S)
            job.resubmit_error = f"status not readable within {self._budget_s:g}s"

        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(again(job))
