"""Completion webhooks: what the gateway and the worker agree on.

At submit, a job with ``notify`` gets a second root promise next to its own:
``<job>.notify``, targeted at the worker group and naming the function
``longhaul.notify``. A worker runs it: it awaits the job's promise through the
server's callbacks (however the job settles: a worker, a cancel, the server's
timeout), then delivers the signed event, retrying as durable steps. Its tag
``resonate:origin: <job>`` puts it and all its steps in the job's origin group,
so nothing deletes a job whose notification is still pending.

The job's own promise carries ``longhaul:notify`` (the URL): the gateway knows a
job has a notification without reading anything.

Each delivery attempt leaves a small promise ``<job>.notify.attempt.<n>``
(status, outcome, time) so the job view can show progress while the notifier is
still retrying; the notifier's settled value is the final summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: The function every worker registers for notifications, and its version.
NOTIFY_FUNCTION = "longhaul.notify"
NOTIFY_VERSION = 1
#: On a job's root promise: the notification URL (the gateway reads no more to know).
TAG_NOTIFY = "longhaul:notify"
#: On every attempt record: the job it belongs to.
TAG_NOTIFY_ATTEMPT = "longhaul:notify-attempt"
#: The notifier may run this long after the job's own deadline; the worker's
#: retry schedule is checked to fit in it (``WorkerSettings``).
NOTIFY_HORIZON_MS = 7 * 24 * 3600 * 1000
MAX_URL_LENGTH = 2048
#: Attempt records are probed up to this many (more than any schedule allows).
MAX_ATTEMPTS = 64

NotificationState = Literal["pending", "retrying", "delivered", "gone", "failed", "missing"]
#: States after which the notifier does nothing more.
SETTLED_STATES = frozenset({"delivered", "gone", "failed", "missing"})

EVENT_TYPES = {
    "succeeded": "job.succeeded",
    "failed": "job.failed",
    "canceled": "job.canceled",
    "timed_out": "job.timed_out",
}


def notify_id(job_id: str) -> str:
    # Under the job's id: a tenant-prefixed Resonate token covers it, and the
    # SDK's step ids (``<root>.<digits>``) can never be ``notify``.
    return f"{job_id}.notify"


def attempt_id(job_id: str, n: int) -> str:
    return f"{notify_id(job_id)}.attempt.{n}"


def webhook_id(job_id: str) -> str:
    """``webhook-id``: one per job's completion event, the same on every retry."""
    return f"msg_{job_id}"


def notify_tags(job_id: str, group: str) -> dict[str, str]:
    """The notifier root's tags: an rpc-like root in the job's origin group."""
    nid = notify_id(job_id)
    return {
        "resonate:origin": job_id,
        "resonate:branch": nid,
        "resonate:parent": nid,
        "resonate:scope": "global",
        "resonate:target": f"poll://any@{group}",
        TAG_NOTIFY_ATTEMPT: job_id,
    }


@dataclass(frozen=True, slots=True)
class Notification:
    """What the job view shows under ``notification``."""

    url: str
    state: NotificationState
    attempts: int = 0
    last_status: int | None = None
    #: Milliseconds since the epoch of the successful attempt.
    delivered_ms: int | None = None
    last_error: str | None = None

    @property
    def settled(self) -> bool:
        return self.state in SETTLED_STATES

    def summary(self) -> dict[str, Any]:
        """The notifier's final value (also what an attempt record holds, in part)."""
        return {
            "state": self.state,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "delivered_ms": self.delivered_ms,
            "last_error": self.last_error,
        }

    @classmethod
    def from_summary(cls, url: str, value: Any) -> Notification:
        if not isinstance(value, dict) or value.get("state") not in SETTLED_STATES:
            return cls(url=url, state="failed", last_error="unreadable notification result")
        return cls(
            url=url,
            state=value["state"],
            attempts=_int(value.get("attempts")) or 0,
            last_status=_int(value.get("last_status")),
            delivered_ms=_int(value.get("delivered_ms")),
            last_error=value.get("last_error")
            if isinstance(value.get("last_error"), str)
            else None,
        )

    @classmethod
    def from_attempts(cls, url: str, records: list[Any]) -> Notification:
        """Progress while the notifier runs: its attempt records, oldest first."""
        if not records:
            return cls(url=url, state="pending")
        last = records[-1] if isinstance(records[-1], dict) else {}
        return cls(
            url=url,
            state="retrying",
            attempts=len(records),
            last_status=_int(last.get("status")),
            last_error=_str(last.get("error")),
        )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
