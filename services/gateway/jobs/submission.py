"""Turn a client request into a durable job: validate, fingerprint, create, compare."""

from __future__ import annotations

from typing import Any

import msgspec
from pydantic import ValidationError

from longhaul.kinds import JobKind
from services.common.webhook_networks import NetworkPolicy
from services.gateway.edge.errors import Problem
from services.gateway.edge.problems import field_errors
from services.gateway.jobs.fingerprints import matches, request_fingerprint
from services.gateway.jobs.job_store import JobStore, Submission
from services.gateway.jobs.kind_catalogue import GatewayKinds
from services.gateway.jobs.notify_url import literal_host
from services.gateway.metrics import GatewayMetrics


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
        return kind, _validate_as_json(kind, raw_input)
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


def _validate_as_json(kind: JobKind, raw_input: Any) -> Any:
    """``kind.validate_input``, strictly and in JSON mode: what the kind's JSON Schema says.

    The input arrived as JSON and the OpenAPI document gives each kind's JSON
    Schema; pydantic's lax Python mode took ``true`` or ``"5"`` for a number,
    which that schema refuses (schemathesis found it). Strict JSON mode still
    takes what JSON spells differently (an integer for a float, a string for a
    datetime or UUID).
    """
    model = kind.input_model.model_validate_json(msgspec.json.encode(raw_input), strict=True)
    return model.model_dump(mode="json")


async def submit_job(
    store: JobStore,
    metrics: GatewayMetrics,
    kinds: GatewayKinds,
    *,
    job_id: str,
    kind_name: str,
    raw_input: Any,
    timeout_s: float | None,
    notify_url: str | None = None,
    tenant: str | None = None,
    webhook_policy: NetworkPolicy | None = None,
) -> Submission:
    try:
        kind, canonical = validate_job(kinds, kind_name, raw_input)
        if notify_url is not None:
            check_destination(notify_url, webhook_policy or NetworkPolicy())
    except Problem:
        metrics.submissions.labels("invalid", "invalid").inc()
        raise
    try:
        await kinds.require_worker(kind)
    except Problem:
        metrics.submissions.labels(kind.name, "unavailable").inc()
        raise
    timeout = float(timeout_s) if timeout_s is not None else None
    digest = request_fingerprint(kind.name, canonical, timeout, kind.timeout_s, notify_url)
    submission = await store.submit(
        job_id,
        kind,
        canonical,
        timeout_s=timeout,
        fingerprint=digest,
        notify_url=notify_url,
        tenant=tenant,
    )
    if not submission.created and not matches(
        submission.job.fingerprint, digest, kind=kind.name, input=canonical, timeout_s=timeout
    ):
        metrics.submissions.labels(kind.name, "conflict").inc()
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency key reused with a different request",
            "This key was first used for a request with a different kind, input, timeout or "
            "notify URL; "
            "use a new key for a new job.",
            job_id=job_id,
        )
    metrics.submissions.labels(kind.name, "created" if submission.created else "replayed").inc()
    return submission


def check_destination(url: str, policy: NetworkPolicy) -> None:
    """A URL whose host is a literal IP the worker would refuse is a 422 now, not a failure later.

    A host name is judged by the worker on each connection (it may resolve
    differently by then, and a check here would only invite rebinding).
    """
    host = literal_host(url)
    reason = None if host is None else policy.refusal(host)
    if reason is not None:
        raise Problem(
            422,
            "invalid-notify-url",
            "Webhook destination refused",
            f"Webhooks may not be sent to {host}: {reason} "
            "(LONGHAUL_WEBHOOK_ALLOWED_NETWORKS allowlists networks).",
            errors=[{"loc": ["body", "notify", "url"], "msg": reason, "type": "refused_address"}],
        )
