"""Request and response bodies of the v1 API (also what /openapi.json shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.timefmt import iso_from_ms
from services.contract.notify import Notification
from services.gateway.jobs.ids import CLIENT_ID_PATTERN  # noqa: F401 - the compat routes' ids
from services.gateway.jobs.job_store import Job
from services.gateway.jobs.notify_url import check_notify_url

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,255}$"
MAX_JOB_TIMEOUT_S = 30 * 24 * 3600


class NotifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        description="Where to POST the signed completion event (http or https, no userinfo; "
        "see docs/webhooks.md).",
        examples=["https://example.com/hooks/longhaul"],
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_notify_url(value)


class JobRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"kind": "sleep", "input": {"seconds": 5}}]},
    )

    kind: str = Field(min_length=1, max_length=64, description="A job kind, e.g. echo or sleep.")
    input: dict[str, Any] = Field(description="The kind's input object.")
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_JOB_TIMEOUT_S,
        description="Deadline after which a job that has not completed is timed_out.",
    )
    notify: NotifyRequest | None = Field(
        default=None,
        description="Send a signed webhook when the job reaches any terminal state.",
    )


class Links(BaseModel):
    self_: str = Field(alias="self", serialization_alias="self")


class JobAccepted(BaseModel):
    id: str
    kind: str
    status: Literal["pending", "succeeded", "failed", "canceled", "timed_out"]
    links: Links


class JobError(BaseModel):
    type: str = Field(description="The exception's class name, or Timeout, Canceled.")
    message: str
    traceback: str | None = Field(
        default=None, description="Only when the worker sets LONGHAUL_WORKER_ERROR_TRACEBACKS."
    )


class NotificationView(BaseModel):
    url: str
    state: Literal["pending", "retrying", "delivered", "gone", "failed", "missing"] = Field(
        description="pending: not attempted yet; retrying: an attempt failed, more to come; "
        "delivered: a 2xx; gone: the receiver answered 410; failed: every attempt failed or "
        "the destination was refused; missing: the notifier was never created (a submit "
        "that answered 503 and was not retried with its Idempotency-Key)."
    )
    attempts: int
    last_status: int | None = Field(default=None, description="HTTP status of the last attempt.")
    delivered_at: datetime | None = None
    last_error: str | None = None


class JobView(BaseModel):
    id: str
    kind: str
    status: Literal["pending", "succeeded", "failed", "canceled", "timed_out"]
    result: Any | None = Field(default=None, description="Present when status is succeeded.")
    error: JobError | None = Field(default=None, description="Present when not succeeded.")
    attempts: int | None = Field(
        default=None,
        description="Executions the job took (retries and lost workers count), once completed.",
    )
    created_at: datetime
    completed_at: datetime | None = None
    notification: NotificationView | None = Field(
        default=None, description="Present for jobs submitted with notify."
    )
    links: Links


class JobList(BaseModel):
    jobs: list[JobView] = Field(description="In job id order (ids are random: not by time).")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page."
    )


class RetryView(BaseModel):
    max_attempts: int
    initial_s: float
    factor: float
    max_s: float


class KindView(BaseModel):
    name: str
    summary: str
    input_schema: dict[str, Any] = Field(description="JSON Schema of the kind's input.")
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the result, when the kind declares one."
    )
    timeout_s: float = Field(description="Deadline of a job submitted without timeout_s.")
    retry: RetryView
    version: int = Field(description="Function version new jobs of this kind run.")
    available: bool = Field(
        description="A worker with this definition has started (else submits answer 503)."
    )


class KindList(BaseModel):
    kinds: list[KindView]


class BeginResponse(BaseModel):
    promise: str
    status: str
    wait: str


class WaitResponse(BaseModel):
    status: str
    promise_id: str
    result: Any | None = None
    error: dict[str, Any] | None = None


class ProblemBody(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def job_path(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def accepted_body(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "links": {"self": job_path(job.id)},
    }


def view_body(job: Job) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "created_at": iso_from_ms(job.created_ms),
    }
    if job.status == "succeeded":
        body["result"] = job.result
    if job.error is not None:
        body["error"] = job.error
    if job.completed_ms is not None:
        body["completed_at"] = iso_from_ms(job.completed_ms)
    if job.attempts is not None:
        body["attempts"] = job.attempts
    if job.notification is not None:
        body["notification"] = notification_body(job.notification)
    body["links"] = {"self": job_path(job.id)}
    return body


def notification_body(notification: Notification) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": notification.url,
        "state": notification.state,
        "attempts": notification.attempts,
        "last_status": notification.last_status,
        "delivered_at": None
        if notification.delivered_ms is None
        else iso_from_ms(notification.delivered_ms),
    }
    if notification.last_error is not None:
        body["last_error"] = notification.last_error
    return body


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemBody, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 409, 413, 422, 503)
}
#: The job routes' OpenAPI security: an API key or an OIDC token (either one).
#: ``auth.openapi`` declares the schemes and keeps only those configured.
SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"OIDC": []}]
