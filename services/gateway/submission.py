"""Turn a client request into a durable job: validate, fingerprint, create, compare."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from longhaul.kinds import JobKind
from services.contract import fingerprint
from services.gateway.errors import Problem
from services.gateway.job_store import JobStore, Submission
from services.gateway.kind_catalogue import GatewayKinds
from services.gateway.metrics import GatewayMetrics
from services.gateway.problems import field_errors


def validate_job(
    kinds: GatewayKinds, kind_name: str, raw_input: Any, loc: tuple[str, ...] = ("body",)
) -> tuple[JobKind, Any]:
    """Return ``(kind, canonical_input)`` or raise a 422 naming the offending fields."""
    kind = kinds.get(kind_name)
    if kind is None:
        raise Problem(
            422,
            "unknown-kind",
            "Unknown job kind",
            f"Kind {kind_name!r} is not one of: {', '.join(sorted(kinds.catalogue.names))}.",
            errors=[{"loc": [*loc, "kind"], "msg": "unknown job kind", "type": "unknown_kind"}],
        )
    try:
        return kind, kind.validate_input(raw_input)
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        for error in errors:
            error["loc"] = [*loc, "input", *error["loc"]]
        raise Problem(
            422,
            "invalid-input",
            "Invalid job input",
            f"The input does not match the schema of kind {kind.name!r}.",
            errors=errors,
        ) from exc


async def submit_job(
    store: JobStore,
    metrics: GatewayMetrics,
    kinds: GatewayKinds,
    *,
    job_id: str,
    kind_name: str,
    raw_input: Any,
    timeout_s: float | None,
) -> Submission:
    try:
        kind, canonical = validate_job(kinds, kind_name, raw_input)
    except Problem:
        metrics.submissions.labels("invalid", "invalid").inc()
        raise
    try:
        await kinds.require_worker(kind)
    except Problem:
        metrics.submissions.labels(kind.name, "unavailable").inc()
        raise
    timeout = float(timeout_s) if timeout_s is not None else None
    digest = fingerprint(kind.name, canonical, timeout)
    submission = await store.submit(job_id, kind, canonical, timeout_s=timeout, fingerprint=digest)
    if not submission.created and submission.job.fingerprint != digest:
        metrics.submissions.labels(kind.name, "conflict").inc()
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency key reused with a different request",
            "This key was first used for a request with a different kind, input or timeout; "
            "use a new key for a new job.",
            job_id=job_id,
        )
    metrics.submissions.labels(kind.name, "created" if submission.created else "replayed").inc()
    return submission
