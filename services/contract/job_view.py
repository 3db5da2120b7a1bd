"""A job as clients see it, from its promise: the gateway's view and the webhook's data.

One definition for both, so a webhook's ``data`` is what ``GET /v1/jobs/{id}``
answers for the same promise (``tests/contract`` compares them).
"""

from __future__ import annotations

from typing import Any, Literal

from services.common.timefmt import iso_from_ms
from services.contract.outcome import read_failure, unwrap_result

#: On every job's root promise (the gateway's ``job_store`` writes it): its kind.
TAG_KIND = "longhaul:kind"

JobStatus = Literal["pending", "succeeded", "failed", "canceled", "timed_out"]

STATUS_BY_STATE: dict[str, JobStatus] = {
    "pending": "pending",
    "resolved": "succeeded",
    "rejected": "failed",
    "rejected_canceled": "canceled",
    "rejected_timedout": "timed_out",
}


def job_path(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def error_of(state: str, value: Any) -> tuple[dict[str, Any], int | None]:
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


def job_view(
    job_id: str,
    kind: str,
    state: str,
    value: Any,
    created_ms: int,
    settled_ms: int | None,
) -> dict[str, Any]:
    """The body of ``GET /v1/jobs/{id}`` (without ``notification``); ``value`` decoded."""
    status = STATUS_BY_STATE[state]
    body: dict[str, Any] = {
        "id": job_id,
        "kind": kind,
        "status": status,
        "created_at": iso_from_ms(created_ms),
    }
    attempts: int | None = None
    if status == "succeeded":
        body["result"], attempts = unwrap_result(value)
    elif status != "pending":
        body["error"], attempts = error_of(state, value)
    if settled_ms is not None:
        body["completed_at"] = iso_from_ms(settled_ms)
    if attempts is not None:
        body["attempts"] = attempts
    body["links"] = {"self": job_path(job_id)}
    return body
