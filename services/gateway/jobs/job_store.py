"""Every question the gateway asks about a job goes to the Resonate server, here.

Each call is bounded by ``timeout_s``: the SDK's HTTP connection retries a down
server forever, so without the bound a request would hang instead of failing
with an explicit 503.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from resonate.error import ResonateError, ServerError
from resonate.resonate import Resonate
from resonate.timing import now_ms
from resonate.types import PromiseRecord, TaskData, Value

from longhaul.kinds import JobKind
from services.common.tracing import trace_tags
from services.contract import GROUP
from services.contract.job_view import STATUS_BY_STATE, JobStatus, error_of
from services.contract.notify import (
    MAX_ATTEMPTS,
    NOTIFY_FUNCTION,
    NOTIFY_HORIZON_MS,
    NOTIFY_VERSION,
    TAG_NOTIFY,
    Notification,
    attempt_id,
    notify_id,
    notify_tags,
)
from services.contract.outcome import unwrap_result
from services.gateway.auth.tenancy import tenant_of
from services.gateway.edge.errors import JobNotFound, Problem, ResonateUnavailable

TAG_KIND = "longhaul:kind"
#: The job list's filters (``promise.search`` by tag containment): the job's
#: tenant, and what the promise is (only a job's promise carries ``job``).
TAG_TENANT = "longhaul:tenant"
TAG_TYPE = "longhaul:type"
TYPE_JOB = "job"
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
    #: Its completion webhook, for jobs submitted with notify.
    notification: Notification | None = None

    @property
    def terminal(self) -> bool:
        return self.status != "pending"

    @property
    def final(self) -> bool:
        """Nothing about this job can change any more: terminal, its webhook settled too."""
        return self.terminal and (self.notification is None or self.notification.settled)

    @classmethod
    def from_record(cls, record: PromiseRecord, value: Any) -> Job:
        """``value`` is the record's decoded value (None while pending)."""
        status = STATUS_BY_STATE[record.state]
        result, error, attempts = None, None, None
        if status == "succeeded":
            result, attempts = unwrap_result(value)
        elif status != "pending":
            error, attempts = error_of(record.state, value)
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
            notification=_unread_notification(record.tags),
        )


def _unread_notification(tags: dict[str, str]) -> Notification | None:
    # Until the job settles its notifier cannot have done anything: no read.
    url = tags.get(TAG_NOTIFY)
    return None if url is None else Notification(url=url, state="pending")


#: Notification reads one list page makes at once.
LIST_NOTIFICATION_READS = 8


class _AlreadySettled(Exception):
    pass


class SearchRefused(Problem):
    """The Resonate server refused a search: a token with a ``prefix`` claim may not search."""

    def __init__(self, message: str) -> None:
        super().__init__(
            501,
            "job-list-unavailable",
            "Job listing unavailable",
            "The Resonate server refused to search (its answer: "
            f"{message or 'forbidden'}). A Resonate token limited to an id prefix may not "
            "search; listing jobs needs a gateway token without a prefix claim.",
        )


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


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    #: The last id of this page when the server holds more matches, else None.
    cursor: str | None


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
        notify_url: str | None = None,
        tenant: str | None = None,
    ) -> Submission:
        """Create the job's promise (idempotent on ``job_id``); return it once durable.

        With ``notify_url`` the job's notifier is created next (idempotent on its
        id too), and only then is the submission returned: a failure of that
        second create is a 503, and the client's retry with the same
        Idempotency-Key creates the missing notifier (the job is the same).
        """
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
            TAG_TENANT: tenant_of(job_id),
            TAG_TYPE: TYPE_JOB,
            TAG_FINGERPRINT: fingerprint,
            TAG_REQUEST: request_tag,
            # The submitting request's W3C trace context: workers continue its trace.
            **trace_tags(),
        }
        if notify_url is not None:
            tags[TAG_NOTIFY] = notify_url
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
        if record.tags.get(TAG_NOTIFY) is not None:
            # The stored job's URL, not this request's: a replay whose URL
            # differs is refused by the fingerprint check before it matters.
            await self._create_notifier(job_id, record.tags[TAG_NOTIFY], tenant, record.timeout_at)
        return Submission(
            Job.from_record(record, record.value.data),
            created=record.tags.get(TAG_REQUEST) == request_tag,
        )

    async def _create_notifier(
        self, job_id: str, url: str, tenant: str | None, job_timeout_at: int
    ) -> None:
        param = Value(
            data=TaskData(
                func=NOTIFY_FUNCTION,
                args=(job_id, url, tenant),
                kwargs={},
                version=NOTIFY_VERSION,
            )
        )
        nid = notify_id(job_id)
        tags = notify_tags(job_id, GROUP)
        deadline_ms = job_timeout_at + NOTIFY_HORIZON_MS
        for attempt in range(CREATE_ATTEMPTS):
            try:
                await self._call(
                    "promise.create",
                    lambda: self._promises.create(nid, deadline_ms, param, tags),
                )
                return
            except _CreateConflict as exc:
                if attempt == CREATE_ATTEMPTS - 1:
                    raise self._unavailable("promise.create", f"status 500: {exc}") from exc
                await asyncio.sleep(CREATE_RETRY_DELAY_S * 2**attempt)

    async def get(self, job_id: str) -> Job:
        record = await self._call("promise.get", lambda: self._sender.promise_get(job_id), job_id)
        return await self.with_notification(self.job_of(record))

    async def listen(self, job_id: str, address: str) -> Job:
        """Have the server push an ``unblock`` to ``address`` when the job settles; its state now.

        The listener is stored only while the promise is pending and the answer
        is the promise as it is once registered, so a settle is either in this
        answer or pushed later: register-then-check leaves no gap.
        """
        record = await self._call(
            "promise.register_listener",
            lambda: self._sender.promise_register_listener(job_id, address),
            job_id,
        )
        return await self.with_notification(self.job_of(record))

    def job_of(self, record: PromiseRecord) -> Job:
        # Only promises the gateway created are jobs: a step's, a timer's or a
        # ledger entry's promise must be neither readable nor cancelable here.
        if TAG_KIND not in record.tags:
            raise JobNotFound(record.id)
        value = None if record.state == "pending" else self._codec.decode(record.value)
        return Job.from_record(record, value)

    async def with_notification(self, job: Job) -> Job:
        """``job`` with its webhook's state read, once it ended (its notifier waits till then)."""
        if job.terminal and job.notification is not None:
            return dataclasses.replace(job, notification=await self.notification(job.id, job))
        return job

    async def notification(self, job_id: str, job: Job) -> Notification:
        """The notifier's state: one read once it settled, one per attempt made while it runs."""
        assert job.notification is not None
        url = job.notification.url
        try:
            root = await self._read(notify_id(job_id))
        except JobNotFound:
            return Notification(url=url, state="missing")
        if root.state != "pending":
            if root.state == "resolved":
                return Notification.from_summary(url, self._codec.decode(root.value))
            return Notification(url=url, state="failed", last_error=f"notifier {root.state}")
        records = []
        for n in range(1, MAX_ATTEMPTS + 1):
            try:
                attempt = await self._read(attempt_id(job_id, n))
            except JobNotFound:
                break
            records.append(self._codec.decode(attempt.param))
        return Notification.from_attempts(url, records)

    async def _read(self, promise_id: str) -> PromiseRecord:
        return await self._call(
            "promise.get", lambda: self._sender.promise_get(promise_id), promise_id
        )

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

    async def search(
        self, tags: dict[str, str], state: str | None, limit: int, cursor: str | None
    ) -> JobPage:
        """One page of ``promise.search``: ids after ``cursor`` in id order, as jobs."""
        result = await self._call(
            "promise.search",
            lambda: self._sender.promise_search(state, tags, limit, cursor),
        )
        jobs = [self.job_of(p) for p in result.promises if TAG_KIND in p.tags]
        # The same view as a single read: a finished job's webhook state is read too
        # (one read per such job, a few at a time); jobs without notify cost nothing.
        reads = asyncio.Semaphore(LIST_NOTIFICATION_READS)

        async def viewed(job: Job) -> Job:
            if not job.terminal or job.notification is None:
                return job
            async with reads:
                return await self.with_notification(job)

        return JobPage(list(await asyncio.gather(*map(viewed, jobs))), result.cursor)

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

    async def _call[T](
        self, operation: str, call: Callable[[], Awaitable[T]], job_id: str = ""
    ) -> T:
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
            if exc.code == 403 and operation == "promise.search":
                raise SearchRefused(exc.message) from exc
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
