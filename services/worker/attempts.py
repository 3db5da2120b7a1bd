"""A job's attempts, counted durably on the Resonate server.

Every execution of a job's function claims the next marker promise
``<job>.exec.<n>`` (create is idempotent on the id; the execution owns
the marker whose stored nonce is its own) and leaves it:

- resolved when it suspends (a durable sleep or remote wait: the same attempt
  continues later, so it is not counted),
- rejected with ``{type, message}`` when the attempt failed and is retried,
- pending when it ended any other way: the worker died, its lease was lost,
  the SDK released the task after a platform failure (a step result that could
  not be stored or decoded). The next execution counts those as failed
  attempts too, which is what stops a job whose executions keep dying the same
  way: once a kind's ``max_attempts`` is used up, the job fails instead of
  being run again.

When the job completes (result or final failure) its last marker is resolved:
a pending promise keeps the job's whole group from retention
(``services/common/retention.py``), and the marker is never read again. Every
marker carries ``resonate:origin: <job>``, so retention deletes it with its
job. If that resolve fails the marker stays pending until the job's own
deadline (its timeout), which only delays the job's deletion.
Claiming costs one request per earlier execution of the job, one in all for a
job that runs once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from resonate.promises import Promises
from resonate.types import Value

from services.common.retention import TAG_ORIGIN

log = structlog.get_logger("longhaul.worker.attempts")

MAX_EXECUTIONS = 1000
LOST = {
    "type": "ExecutionLost",
    "message": "an earlier execution ended without completing "
    "(worker crash, lost lease, or a step result that could not be stored or decoded)",
}


def marker_id(job_id: str, n: int) -> str:
    # Under the job's own id: a Resonate token limited to a tenant's prefix
    # covers its markers too. (The SDK names a job's steps ``<job>.<n>``, all
    # digits after the dot, so ``exec`` cannot collide with one.)
    return f"{job_id}.exec.{n}"


@dataclass(frozen=True)
class History:
    """What earlier executions of a job left, as seen by the one starting now."""

    marker: str
    #: Earlier attempts that failed (recorded failures and executions lost).
    failed: int
    #: The last earlier failure (``{type, message}``), if any.
    last_error: dict[str, str] | None
    #: Tags of the markers of earlier executions that were lost (their trace context).
    lost: tuple[Mapping[str, str], ...] = ()

    @property
    def attempt(self) -> int:
        return self.failed + 1


class AttemptLog:
    def __init__(self, promises: Promises) -> None:
        self._promises = promises

    async def begin(
        self, job_id: str, timeout_at: int, tags: Mapping[str, str] | None = None
    ) -> History:
        """Claim this execution's marker; ``tags`` go on it (the execution's trace context)."""
        nonce = uuid.uuid4().hex
        failed = 0
        last: dict[str, str] | None = None
        lost: list[Mapping[str, str]] = []
        for n in range(1, MAX_EXECUTIONS + 1):
            record = await self._promises.create(
                marker_id(job_id, n),
                timeout_at,
                Value(data={"nonce": nonce}),
                # The origin puts the marker in the job's retention group; ``tags``
                # carry the execution's trace context.
                {"longhaul:exec": job_id, TAG_ORIGIN: job_id, **(tags or {})},
            )
            param = record.param.data
            if isinstance(param, dict) and param.get("nonce") == nonce:
                return History(marker_id(job_id, n), failed, last, tuple(lost))
            if record.state == "pending":
                failed, last = failed + 1, dict(LOST)
                lost.append(record.tags)
            elif record.state == "rejected":
                failed, last = failed + 1, _error(record.value.data)
        return History(marker_id(job_id, MAX_EXECUTIONS), failed, last or dict(LOST), tuple(lost))

    async def suspended(self, history: History) -> None:
        await self._promises.resolve(history.marker, Value(data=None))

    async def finished(self, history: History) -> None:
        """The job completed: its marker is settled so retention can take the group."""
        try:
            await self._promises.resolve(history.marker, Value(data={"finished": True}))
        except Exception as exc:  # never fail a completed job over its marker
            log.warning("attempt marker not settled", marker=history.marker, error=str(exc))

    async def failed(self, history: History, error_type: str, message: str) -> None:
        await self._promises.reject(
            history.marker, Value(data={"type": error_type, "message": message[:2000]})
        )


def _error(data: Any) -> dict[str, str]:
    if isinstance(data, dict) and isinstance(data.get("type"), str):
        return {"type": data["type"], "message": str(data.get("message", ""))}
    return dict(LOST)
