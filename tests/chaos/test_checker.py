"""The checker must fail on broken runs: made-up run records, one fault each."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.chaos.checker import check
from tests.chaos.model import STEPS, Execution, FaultRecord, JobRecord, RunRecord
from tests.chaos.workload import make_workload

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0


def executions(pid: str = "worker-1", at: float = T0 + 2) -> list[Execution]:
    return [Execution(step, 1, pid, int((at + i * 0.1) * 1000)) for i, step in enumerate(STEPS)]


def clean_run(n: int = 5) -> RunRecord:
    """A run where every invariant holds: the checker's baseline."""
    jobs = make_workload(n, random.Random(1), "test", 0.1, 4)
    for job in jobs:
        job.job_id = f"job-{job.index}"
        job.answered_ids = {job.job_id}
        job.acked_at = T0 + 1 + job.index * 0.1
        job.submit_attempts = 1
        job.status = "succeeded"
        job.result = {"stats": dict(job.expected), "published_to": "log"}
        job.completed_at = job.done_at = T0 + 3 + job.index * 0.1
        job.executions = executions()
    jobs[0].resubmitted_id, jobs[0].resubmitted_result = jobs[0].job_id, jobs[0].result
    return RunRecord(
        target="processes",
        started_at=T0,
        ttl_s=2.0,
        grace_s=1.0,
        job_budget_s=0.3,
        window_end=T0 + 10,
        lease_deadline=T0 + 15.3,
        deadline=T0 + 45.3,
        finished_at=T0 + 20,
        jobs=jobs,
        faults=[FaultRecord("worker_kill", "worker-1", T0 + 2.5, T0 + 4.5)],
        planned_faults={"worker_kill": 1},
    )


def invariants(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["invariant"]: v for v in report["violations"]}


def test_a_clean_run_passes_with_its_figures() -> None:
    report = check(clean_run())
    assert report["ok"] and report["violations"] == []
    assert report["jobs"]["completed"] == {"succeeded": 5}
    assert report["executions"]["executions"] == 5 and report["executions"]["duplicates"] == 0
    assert report["idempotency"] == {
        "resubmitted": 1,
        "same_id": 1,
        "same_result": 1,
        "ids_answered": 5,
    }
    assert report["faults"]["injected"] == {"worker_kill": 1}


def test_a_fake_202_for_an_id_never_created_is_a_lost_job() -> None:
    run = clean_run()
    ghost = run.jobs[2]
    # The gateway said 202 with this id; no such job exists, reads answer 404.
    ghost.job_id, ghost.answered_ids = "job-never-created", {"job-never-created"}
    ghost.status, ghost.result, ghost.completed_at, ghost.done_at = "not_found", None, None, None
    ghost.executions = []

    report = check(run)
    assert not report["ok"]
    lost = invariants(report)["no_lost_jobs"]
    assert lost["examples"] == ["job-never-created"] and "not_found" in lost["detail"]
    assert report["jobs"]["lost"] == 1 and report["jobs"]["lost_by_status"] == {"not_found": 1}


def test_a_job_still_pending_at_the_deadline_is_lost() -> None:
    run = clean_run()
    run.jobs[1].status, run.jobs[1].completed_at = "pending", None
    report = check(run)
    assert invariants(report)["no_lost_jobs"]["examples"] == ["job-1"]


def test_a_wrong_result_is_named() -> None:
    run = clean_run()
    run.jobs[3].result["stats"]["sum"] += 0.5
    report = check(run)
    wrong = invariants(report)["correct_results"]
    assert wrong["examples"] == ["job-3"] and "sum" in wrong["detail"]
    assert report["jobs"]["wrong_results"] == 1


def test_a_failed_job_is_lost_not_a_result() -> None:
    run = clean_run()
    run.jobs[0].status, run.jobs[0].result = "failed", {"message": "boom"}
    assert invariants(check(run))["no_lost_jobs"]["examples"] == ["job-0"]


def test_late_is_reported_but_lost_only_past_the_deadline() -> None:
    run = clean_run()
    run.jobs[4].completed_at = run.lease_deadline + 20  # the server's retry, not the lease
    report = check(run)
    assert report["ok"] and report["jobs"]["late"] == 1
    assert report["jobs"]["late_examples"][0]["id"] == "job-4"
    assert any("after the lease bound" in w for w in report["warnings"])


def test_duplicates_are_counted_not_failed_but_a_missing_execution_fails() -> None:
    run = clean_run()
    run.jobs[0].executions += [Execution("publish", 2, "worker-2", int((T0 + 6) * 1000))]
    run.jobs[1].executions = []
    report = check(run)
    assert report["executions"]["duplicates"] == 1
    assert report["executions"]["jobs_with_duplicates"] == 1
    assert report["executions"]["interrupted_jobs"] == 1
    assert list(invariants(report)) == ["at_least_once"]
    assert invariants(report)["at_least_once"]["examples"] == ["job-1"]


def test_one_key_one_id_and_resubmissions_keep_id_and_result() -> None:
    run = clean_run()
    run.jobs[1].answered_ids.add("job-other")
    run.jobs[2].answered_ids.add("job-3")  # an id that belongs to another key
    run.jobs[3].resubmitted_id, run.jobs[3].resubmitted_result = "job-33", run.jobs[3].result
    run.jobs[4].resubmitted_id, run.jobs[4].resubmitted_result = "job-4", {"stats": {}}
    report = check(run)
    per_key = [v for v in report["violations"] if v["invariant"] == "one_job_per_key"]
    assert {tuple(v["examples"]) for v in per_key} == {
        (run.jobs[1].key, run.jobs[2].key),
        ("job-3",),
    }
    resub = [v for v in report["violations"] if v["invariant"] == "resubmission_same_job"]
    assert {v["examples"][0] for v in resub} == {run.jobs[3].key, run.jobs[4].key}


def test_executions_of_an_id_no_submission_owns_fail() -> None:
    run = clean_run()
    run.unexpected = {"job-stranger": executions(), "job-quiet": []}
    report = check(run)
    assert invariants(report)["executions_of_submitted_jobs_only"]["examples"] == ["job-stranger"]


def test_faults_not_injected_or_not_recovered_fail_the_run() -> None:
    run = clean_run()
    run.planned_faults = {"worker_kill": 2, "gateway_kill": 1}
    run.faults.append(FaultRecord("gateway_kill", "gateway", T0 + 5, error="TimeoutError: x"))
    report = check(run)
    faults = [v for v in report["violations"] if v["invariant"] == "faults_injected"]
    assert len(faults) == 2
    assert "TimeoutError" in faults[0]["examples"][0]
    assert "fewer faults than planned" in faults[1]["detail"]


def test_unacknowledged_submissions_and_an_unreadable_ledger_fail() -> None:
    run = clean_run()
    job: JobRecord = run.jobs[0]
    job.job_id, job.acked_at, job.rejected = None, None, "no 202 within 60s"
    run.ledger_error = "ledger not readable"
    found = invariants(check(run))
    assert found["every_submission_acknowledged"]["examples"] == [job.key]
    assert "ledger_readable" in found and "at_least_once" not in found


def test_a_worker_kill_that_interrupted_nothing_is_a_warning() -> None:
    report = check(clean_run())
    assert report["executions"]["interrupted_jobs"] == 0
    assert any("missed the work" in w for w in report["warnings"])
