"""Every question the gateway asks about a job goes to the Resonate server, here.

Each call is bounded by ``timeout_s``: the SDK's HTTP connection retries a down
server forever, so without the bound a request would hang instead of failing
with an explicit 503.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from resonate.error import ResonateError, ServerError
from resonate.resonate import Resonate
from resonate.timing import now_ms
from resonate.types import PromiseRecord, TaskData, Value

from longhaul.kinds import JobKind
from services.contract import GROUP
from services.contract.outcome import read_failure, unwrap_result
from services.gateway.errors import JobNotFound, Problem, ResonateUnavailable

JobStatus = Literal["pending", "succeeded", "failed", "canceled", "timed_out"]

STATUS_BY_STATE: dict[str, JobStatus] = {
    "pending": "pending",
    "resolved": "succeeded",
    "rejected": "failed",
    "rejected_canceled": "canceled",
    "rejected_timedout": "timed_out",
}

TAG_KIND = "longhaul:kind"
TAG_FINGERPRINT = "longhaul:fingerprint"
TAG_REQUEST = "longhaul:request"
#: Used by /readyz: any answer (404 included) proves the server is reachable.
READINESS_PROBE_ID = "longhaul-readiness-probe"


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    status: JobStatus
    state: str
    result: Any
    error: dict[str, Any] | None
    #: Milliseconds since the epoch, as the Resonate server keeps them.
    created_ms: int
    completed_ms: int | None
    fingerprint: str | None
    #: Executions it took, once it completed (None while pending).
    attempts: int | None = None

    @property
    def terminal(self) -> bool:
        return self.status != "pending"

    @classmethod
    def from_record(cls, record: PromiseRecord, value: Any) -> Job:
        """``value`` is the record's decoded value (None while pending)."""
        status = STATUS_BY_STATE[record.state]
        result, error, attempts = None, None, None
        if status == "succeeded":
            result, attempts = unwrap_result(value)
        elif status != "pending":
            error, attempts = _error_of(record.state, value)
        return cls(
            id=record.id,
            kind=record.tags[TAG_KIND],
            status=status,
            state=record.state,
            result=result,
            error=error,
            created_ms=record.created_at,
            completed_ms=record.settled_at,
            fingerprint=record.tags.get(TAG_FINGERPRINT),
            attempts=attempts,
        )


def _error_of(state: str, value: Any) -> tuple[dict[str, Any], int | None]:
    # Only the plain message is read: the SDK's error payload may also carry a
    # pickle, which must never be loaded from a value any worker could write.
    if state == "rejected_timedout":
        return {"type": "Timeout", "message": "the job did not complete before its timeout"}, None
    if state == "rejected_canceled":
        message = value.get("message") if isinstance(value, dict) else None
        return {"type": "Canceled", "message": message or "the job was canceled"}, None
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        stored = read_failure(value["message"])
        if stored is not None:
            return stored
        return {"type": "Error", "message": value["message"]}, None
    return {"type": "Error", "message": "the job failed", "detail": value}, None


class _AlreadySettled(Exception):
    pass


class _CreateConflict(Exception):
    """A create answered 500: on the real server, the loser of two concurrent creates of an id."""


#: The real server (v0.9.8) answers 500 to one of two concurrent creates of the
#: same id (its insert is not retried under READ COMMITTED). The create is
#: idempotent, so sending it again returns the stored promise: the right
#: answer for a client retrying with its Idempotency-Key, not a 503.
CREATE_ATTEMPTS = 3
CREATE_RETRY_DELAY_S = 0.02


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool


class JobStore:
    def __init__(
        self,
        resonate: Resonate,
        *,
        timeout_s: float,
        retry_after_s: int,
        clock: Callable[[], int] = now_ms,
        on_canceled: Callable[[Job], None] | None = None,
    ) -> None:
        self._promises = resonate.promises
        # Reads go to the sender and decode the value only: the promises
        # sub-client would also decode the job's input (up to the body limit)
        # on every status poll, to throw it away.
        self._sender = resonate.promises.sender
        self._codec = resonate.promises.codec
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._clock = clock
        #: Told of every job this store itself settled as canceled (its latency metric).
        self._on_canceled = on_canceled

    async def submit(
        self,
        job_id: str,
        kind: JobKind,
        input: dict[str, Any],
        *,
        timeout_s: float | None,
        fingerprint: str,
    ) -> Submission:
        """Create the job's promise (idempotent on ``job_id``); return it once durable."""
        request_tag = uuid.uuid4().hex
        timeout_ms = int((timeout_s or kind.timeout_s) * 1000)
        tags = {
            # The SDK's own root-promise tags, so workers treat it like an rpc.
            "resonate:origin": job_id,
            "resonate:branch": job_id,
            "resonate:parent": job_id,
            "resonate:scope": "global",
            "resonate:target": f"poll://any@{GROUP}",
            TAG_KIND: kind.name,
            TAG_FINGERPRINT: fingerprint,
            TAG_REQUEST: request_tag,
        }
        param = Value(
            data=TaskData(func=kind.function_name, args=(input,), kwargs={}, version=kind.version)
        )
        deadline_ms = self._clock() + timeout_ms
        for attempt in range(CREATE_ATTEMPTS):
            try:
                record = await self._call(
                    "promise.create",
                    lambda: self._promises.create(job_id, deadline_ms, param, tags),
                )
                break
            except _CreateConflict as exc:
                if attempt == CREATE_ATTEMPTS - 1:
                    raise self._unavailable("promise.create", f"status 500: {exc}") from exc
                await asyncio.sleep(CREATE_RETRY_DELAY_S * 2**attempt)
        return Submission(
            Job.from_record(record, record.value.data),
            created=record.tags.get(TAG_REQUEST) == request_tag,
        )

    async def get(self, job_id: str) -> Job:
        record = await self._call("promise.get", lambda: self._sender.promise_get(job_id), job_id)
        # Only promises the gateway created are jobs: a step's, a timer's or a
        # ledger entry's promise must be neither readable nor cancelable here.
        if TAG_KIND not in record.tags:
            raise JobNotFound(job_id)
        value = None if record.state == "pending" else self._codec.decode(record.value)
        return Job.from_record(record, value)

    async def cancel(self, job_id: str) -> Job:
        """Settle a pending job as canceled; a completed one is returned unchanged."""
        job = await self.get(job_id)
        if job.terminal:
            return job
        try:
            record = await self._call(
                "promise.settle",
                lambda: self._promises.cancel(
                    job_id, Value(data={"message": "canceled by client"})
                ),
                job_id,
            )
        except _AlreadySettled:
            # Some servers answer 409 for a settle of a settled promise.
            return await self.get(job_id)
        canceled = Job.from_record(record, record.value.data)
        if self._on_canceled is not None and canceled.status == "canceled":
            self._on_canceled(canceled)
        return canceled

    async def exists(self, promise_id: str) -> bool:
        """Whether any promise has this id (a worker's kind advert, say)."""
        try:
            await self._call("promise.get", lambda: self._sender.promise_get(promise_id))
        except JobNotFound:
            return False
        return True

    async def ping(self) -> None:
        try:
            await self._call("promise.get", lambda: self._promises.get(READINESS_PROBE_ID))
        except JobNotFound:
            return

    async def _call(
        self, operation: str, call: Callable[[], Awaitable[PromiseRecord]], job_id: str = ""
    ) -> PromiseRecord:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await call()
        except TimeoutError as exc:
            raise self._unavailable(operation, f"no answer within {self._timeout_s:g}s") from exc
        except ServerError as exc:
            if exc.code == 404:
                raise JobNotFound(job_id) from exc
            if exc.code == 409:
                raise _AlreadySettled from exc
            if exc.code == 500 and operation == "promise.create":
                raise _CreateConflict(exc.message) from exc
            if exc.code in (400, 422):
                raise Problem(
                    400, "invalid-request", "Rejected by the job store", exc.message
                ) from exc
            raise self._unavailable(operation, f"status {exc.code}: {exc.message}") from exc
        except ResonateError as exc:
            raise self._unavailable(operation, str(exc) or type(exc).__name__) from exc

    def _unavailable(self, operation: str, reason: str) -> ResonateUnavailable:
        return ResonateUnavailable(operation, reason, self._retry_after_s)
