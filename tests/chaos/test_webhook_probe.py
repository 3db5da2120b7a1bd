"""The webhook verdict of a chaos run, on made-up runs: each broken case is named."""

from __future__ import annotations

import pytest

from tests.chaos.model import JobRecord
from tests.chaos.probes.webhooks import verdict
from tests.webhook_receiver import Delivery

pytestmark = pytest.mark.unit


def _job(i: int, status: str = "succeeded") -> JobRecord:
    job = JobRecord(index=i, key=f"k{i}", body={}, expected={})
    job.job_id, job.status = f"t.job-{i}", status
    return job


def _hit(job_id: str, event: str = "job.succeeded", *, ok: bool = True, answered: int = 200):
    headers = {"webhook-id": f"msg_{job_id}"}
    return Delivery(headers, b"{}", ok, {"type": event}, "/hook", answered)


def test_every_job_delivered_once_or_more_is_fine_and_duplicates_are_counted() -> None:
    jobs = [_job(1), _job(2, "canceled")]
    hits = [
        _hit("t.job-1", answered=503),  # refused on purpose: not a delivery, not a duplicate
        _hit("t.job-1"),
        _hit("t.job-2", "job.canceled"),
        _hit("t.job-2", "job.canceled"),
    ]
    section, violations = verdict(jobs, hits)
    assert violations == []
    assert section["delivered_jobs"] == 2 and section["duplicates"] == 1
    assert section["refused_first_attempts"] == 1 and section["missing"] == 0


def test_each_broken_case_is_named() -> None:
    jobs = [_job(1), _job(2), _job(3)]
    hits = [
        _hit("t.job-1", answered=503),  # never accepted: missing
        _hit("t.job-2", ok=False),  # bad signature (and so missing too)
        _hit("t.job-3", "job.failed"),  # wrong type
        _hit("t.job-9"),  # nobody submitted it
    ]
    _, violations = verdict(jobs, hits)
    named = {v["invariant"]: v["examples"] for v in violations}
    assert named["webhook_delivered"] == ["t.job-1", "t.job-2"]
    assert named["webhook_signed"] == ["t.job-2"]
    assert named["webhook_says_how_it_ended"] == ["t.job-3"]
    assert named["webhook_of_submitted_jobs_only"] == ["t.job-9"]
