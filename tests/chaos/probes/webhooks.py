"""Probe: what a chaos run's webhook receiver saw, judged against the acknowledged jobs.

Read-only: it only looks at the deliveries the sink recorded. Every acknowledged
job submitted with ``notify`` must have at least one delivery whose signature
``standardwebhooks`` verified, for its own id, saying how it ended; copies
beyond the first are duplicates (at least once), counted, never a failure.
A delivery with a bad signature, or for an id no submission owns, is one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from tests.chaos.model import JobRecord
from tests.webhook_receiver import Delivery

EXAMPLES = 20
EVENT_OF_STATUS = {
    "succeeded": "job.succeeded",
    "failed": "job.failed",
    "canceled": "job.canceled",
    "timed_out": "job.timed_out",
}


def job_of(delivery: Delivery) -> str | None:
    msg_id = delivery.headers.get("webhook-id", "")
    return msg_id.removeprefix("msg_") if msg_id.startswith("msg_") else None


def accepted(deliveries: Sequence[Delivery]) -> list[Delivery]:
    """Deliveries that count: signed, and answered 2xx (the sink refuses some on purpose)."""
    return [d for d in deliveries if d.verified and 200 <= d.answered < 300]


def missing(jobs: Sequence[JobRecord], deliveries: Sequence[Delivery]) -> list[str]:
    """Acknowledged, terminal jobs with no accepted delivery yet."""
    seen = {job_of(d) for d in accepted(deliveries)}
    return [
        j.job_id for j in jobs if j.job_id and j.status in EVENT_OF_STATUS and j.job_id not in seen
    ]


def verdict(
    jobs: Sequence[JobRecord], deliveries: Sequence[Delivery]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the report's ``webhooks`` section, violations)."""
    acked = {j.job_id: j for j in jobs if j.job_id}
    verified = [d for d in deliveries if d.verified]
    per_job = Counter(job_of(d) for d in accepted(deliveries))
    unsigned = [job_of(d) or "?" for d in deliveries if not d.verified]
    unexpected = sorted({str(job_of(d)) for d in verified if job_of(d) not in acked})
    wrong_event = sorted(
        job_id
        for d in verified
        if (job_id := job_of(d)) in acked
        and d.event.get("type") != EVENT_OF_STATUS.get(acked[job_id].status or "")
    )
    lost = missing(list(acked.values()), deliveries)
    violations = []
    for name, detail, examples in (
        ("webhook_delivered", "a terminal job's webhook never arrived (signed)", lost),
        ("webhook_signed", "a delivery whose signature did not verify", unsigned),
        ("webhook_of_submitted_jobs_only", "a delivery for an id no submission owns", unexpected),
        ("webhook_says_how_it_ended", "an event type other than the job's status", wrong_event),
    ):
        if examples:
            violations.append(
                {
                    "invariant": name,
                    "detail": detail,
                    "count": len(examples),
                    "examples": sorted(examples)[:EXAMPLES],
                }
            )
    duplicates = sum(n - 1 for n in per_job.values() if n > 1)
    section = {
        "jobs_notified": len(acked),
        "delivered_jobs": sum(1 for job_id in per_job if job_id in acked),
        "deliveries": len(deliveries),
        "duplicates": duplicates,
        "jobs_with_duplicates": sum(1 for n in per_job.values() if n > 1),
        "max_per_job": max(per_job.values(), default=0),
        "refused_first_attempts": sum(1 for d in deliveries if d.answered >= 500),
        "unsigned": len(unsigned),
        "missing": len(lost),
        "missing_examples": sorted(lost)[:EXAMPLES],
    }
    return section, violations
