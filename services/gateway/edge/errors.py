"""Problem Details (RFC 9457) errors raised by the gateway's routes and store."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException


class Problem(Exception):
    """An HTTP error rendered as ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str, request_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:longhaul:problem:{self.slug}",
            "title": self.title,
            "status": self.status,
            "instance": instance,
        }
        if self.detail:
            body["detail"] = self.detail
        if request_id:
            body["request_id"] = request_id
        body.update(self.extra)
        return body


class BodyProblem(Problem, HTTPException):
    """A Problem raised while FastAPI reads the request body.

    FastAPI lets an HTTPException out of its body parsing unchanged but turns
    any other error into a bare 400; Starlette picks a handler by the
    exception's MRO, where Problem comes first: the Problem handler renders it.
    """

    def __init__(self, status: int, slug: str, title: str, detail: str, **kwargs: Any) -> None:
        Problem.__init__(self, status, slug, title, detail, **kwargs)
        self.status_code = status


def body_too_large(limit: int, *, close: bool) -> BodyProblem:
    """The one 413, whether Content-Length announced it or the stream ran past the limit.

    ``close``: the rest of the body was not read, so the connection cannot
    carry another request.
    """
    return BodyProblem(
        413,
        "body-too-large",
        "Request body too large",
        f"The request body exceeds the limit of {limit} bytes.",
        headers={"Connection": "close"} if close else None,
    )


class JobNotFound(Problem):
    def __init__(self, job_id: str) -> None:
        super().__init__(404, "job-not-found", "Job not found", f"No job with id {job_id!r}.")


class ResonateUnavailable(Problem):
    """The Resonate server did not answer in time, or answered with a server error."""

    def __init__(self, operation: str, reason: str, retry_after_s: int) -> None:
        super().__init__(
            503,
            "resonate-unavailable",
            "Job store unavailable",
            # What failed inside is logged (with the request id), never sent:
            # a client can act on "retry", not on our server's addresses or errors.
            "The job store did not answer. "
            "Retry later; resubmit with the same Idempotency-Key to avoid a duplicate job.",
            headers={"Retry-After": str(retry_after_s)},
        )
        self.operation = operation
        self.reason = reason
