"""The invariants of design.md ("Chaos invariants"), checked on a RunRecord.

Every job that received a 202 reaches a terminal state with the correct
result by the deadline; a resubmission with the same key never changes its id
or result; every execution is of a job that was submitted; executions >= 1
per job, duplicates counted. Each violation names its invariant and example
ids. The deadline is design.md's lease bound (fault window + 2 x lease, plus a
job's own run time and grace) plus ``dispatch_retry``: the time a real server
takes to offer again a task whose worker died before claiming it. A job done
in that extra time is "late", counted and explained, not lost. Locally
``dispatch_retry`` is 0 (the dev server re-offers at once): the two bounds are one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.chaos.actions.base import RESONATE_KILL, WORKER_KILL
from tests.chaos.longpolls import check_long_polls
from tests.chaos.model import SIDE_EFFECT_STEP, STEPS, JobRecord, RunRecord
from tests.chaos.recovery import completion, iso, summarize
from tests.chaos.workload import result_mismatch

EXAMPLES = 20


class Violations:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, invariant: str, detail: str, examples: list[str]) -> None:
        self.items.append(
            {
                "invariant": invariant,
                "detail": detail,
                "count": len(examples),
                "examples": sorted(examples)[:EXAMPLES],
            }
        )


def _name(job: JobRecord) -> str:
    return job.job_id or job.key


def _story(job: JobRecord, start: float) -> dict[str, Any]:
    """What happened to one job, for the report's examples of lost and late jobs."""

    def t(ts: float | None) -> float | None:
        return None if ts is None else round(ts - start, 3)

    return {
        "id": _name(job),
        "status": job.status,
        "acked_t_s": t(job.acked_at),
        "completed_t_s": t(completion(job)),
        "executions": [f"{e.step}#{e.n} {e.pid} t={t(e.at_ms / 1000)}s" for e in job.executions],
    }


def _publishes(job: JobRecord) -> int:
    return sum(1 for e in job.executions if e.step == SIDE_EFFECT_STEP)


def _interrupted(job: JobRecord) -> bool:
    per_step = Counter(e.step for e in job.executions)
    return any(n > 1 for n in per_step.values()) or len({e.pid for e in job.executions}) > 1


def _check_jobs(run: RunRecord, v: Violations) -> dict[str, Any]:
    acked = [j for j in run.jobs if j.acknowledged]
    unacked = [j for j in run.jobs if not j.acknowledged]
    if unacked:
        v.add(
            "every_submission_acknowledged",
            "no 202 within the submission budget: the run cannot vouch for these jobs "
            f"(first error: {unacked[0].rejected})",
            [j.key for j in unacked],
        )
    lost = [j for j in acked if j.status != "succeeded"]
    if lost:
        by_status = Counter(j.status or "never_read" for j in lost)
        v.add(
            "no_lost_jobs",
            f"acknowledged but not succeeded by the deadline (last status: {dict(by_status)})",
            [_name(j) for j in lost],
        )
    wrong = {
        _name(j): why
        for j in acked
        if j.status == "succeeded" and (why := result_mismatch(j.expected, j.result))
    }
    if wrong:
        first = next(iter(wrong.items()))
        v.add("correct_results", f"result differs from the input's stats: {first}", list(wrong))
    late = [
        j for j in acked if j.status == "succeeded" and (completion(j) or 0) > run.lease_deadline
    ]
    return {
        "submitted": len(run.jobs),
        "acknowledged": len(acked),
        "unacknowledged": len(unacked),
        "completed": dict(Counter(j.status for j in acked if j.terminal)),
        "lost": len(lost),
        "lost_by_status": dict(Counter(j.status or "never_read" for j in lost)),
        "lost_examples": [_story(j, run.started_at) for j in lost[:5]],
        "late": len(late),
        "late_examples": [_story(j, run.started_at) for j in late[:5]],
        "wrong_results": len(wrong),
        "submission_attempts": sum(j.submit_attempts for j in run.jobs),
        "submissions_retried": sum(1 for j in run.jobs if j.submit_attempts > 1),
        "submission_errors": dict(sum((j.submit_errors for j in run.jobs), Counter())),
        "status_read_errors": dict(sum((j.poll_errors for j in run.jobs), Counter())),
    }


def _check_ids(run: RunRecord, v: Violations) -> dict[str, Any]:
    keys_by_id: dict[str, set[str]] = {}
    for job in run.jobs:
        for job_id in job.answered_ids:
            keys_by_id.setdefault(job_id, set()).add(job.key)
    split = [j.key for j in run.jobs if len(j.answered_ids) > 1]
    if split:
        v.add("one_job_per_key", "the gateway answered several ids for one key", split)
    shared = [i for i, keys in keys_by_id.items() if len(keys) > 1]
    if shared:
        v.add("one_job_per_key", "one id answered for several keys", shared)
    resubmitted = [j for j in run.jobs if j.resubmitted_id or j.resubmit_error]
    failed = [j.key for j in resubmitted if j.resubmit_error]
    changed_id = [j.key for j in resubmitted if j.resubmitted_id and j.resubmitted_id != j.job_id]
    changed_result = [
        j.key for j in resubmitted if j.resubmitted_id and j.resubmitted_result != j.result
    ]
    if failed:
        v.add("resubmission_same_job", "resubmission got no 202 or no status", failed)
    if changed_id:
        v.add("resubmission_same_job", "resubmission with the same key got another id", changed_id)
    if changed_result:
        v.add("resubmission_same_job", "resubmission's job has another result", changed_result)
    return {
        "resubmitted": len(resubmitted),
        "same_id": sum(1 for j in resubmitted if j.resubmitted_id == j.job_id),
        "same_result": sum(
            1 for j in resubmitted if j.resubmitted_id and j.resubmitted_result == j.result
        ),
        "ids_answered": len(keys_by_id),
    }


def _check_executions(run: RunRecord, v: Violations) -> dict[str, Any]:
    acked = [j for j in run.jobs if j.acknowledged]
    if run.ledger_error:
        v.add("ledger_readable", run.ledger_error, [])
    missing = [_name(j) for j in acked if j.status == "succeeded" and _publishes(j) == 0]
    if missing and not run.ledger_error:
        v.add(
            "at_least_once",
            "succeeded with no recorded execution of its side effect "
            "(are the workers running with LONGHAUL_WORKER_LEDGER=true?)",
            missing,
        )
    foreign = {i: execs for i, execs in run.unexpected.items() if execs}
    if foreign:
        v.add(
            "executions_of_submitted_jobs_only",
            "executions recorded for ids the gateway answered that no submission owns",
            list(foreign),
        )
    per_job = [_publishes(j) for j in acked]
    reexecuted = Counter()
    for job in acked:
        for step, n in Counter(e.step for e in job.executions).items():
            reexecuted[step] += max(0, n - 1)
    return {
        "executions": sum(per_job),
        "duplicates": sum(max(0, n - 1) for n in per_job),
        "jobs_with_duplicates": sum(1 for n in per_job if n > 1),
        "max_per_job": max(per_job, default=0),
        "jobs_without_execution": len(missing),
        "interrupted_jobs": sum(1 for j in acked if _interrupted(j)),
        "step_reexecutions": {step: reexecuted[step] for step in STEPS},
        "unexpected_ids": sorted(run.unexpected)[:EXAMPLES],
        "scope": (
            f"ledger read for the {len(acked)} acknowledged ids and the "
            f"{len(run.unexpected)} other ids the gateway answered; executions of ids "
            "never answered to this client cannot be seen (the ledger is keyed by job id)"
        ),
    }


def _check_faults(run: RunRecord, v: Violations) -> dict[str, Any]:
    done = Counter(f.kind for f in run.faults if not f.error)
    failed = [f"{f.kind}@{iso(f.at)}: {f.error}" for f in run.faults if f.error]
    if failed:
        v.add("faults_injected", "faults that could not be injected or recovered", failed)
    bound = run.resonate_recovery_bound_s
    slow = [
        f"{f.target}@{iso(f.at)}: {f.recovered_at - f.at:.1f}s"
        for f in run.faults
        if f.kind == RESONATE_KILL and f.recovered_at and bound and f.recovered_at - f.at > bound
    ]
    if slow:
        v.add(
            "resonate_recovery_bounded",
            f"Resonate-server kills recovered from (server ready, every worker listening) "
            f"later than {bound:g}s",
            slow,
        )
    short = {k: (done[k], n) for k, n in run.planned_faults.items() if done[k] < n}
    if short:
        v.add("faults_injected", f"fewer faults than planned (done, planned): {short}", list(short))
    return {
        "planned": {k: n for k, n in run.planned_faults.items() if n},
        "injected": dict(done),
        "failed": len(failed),
    }


def check(run: RunRecord) -> dict[str, Any]:
    """The report: figures, every violated invariant, and ``ok``."""
    v = Violations()
    jobs = _check_jobs(run, v)
    ids = _check_ids(run, v)
    executions = _check_executions(run, v)
    faults = _check_faults(run, v)
    long_polls = check_long_polls(run, run.long_polls, v)
    recovery, faults["timeline"] = summarize(run)
    warnings = []
    if jobs["late"]:
        warnings.append(
            f"{jobs['late']} job(s) succeeded after the lease bound (window end + 2 x ttl): "
            "a task offered to a worker that died before claiming it waits for the server's "
            "retry of unclaimed tasks, not for the lease (see late_examples)"
        )
    if run.planned_faults.get(WORKER_KILL) and not executions["interrupted_jobs"]:
        warnings.append("no job was interrupted by a worker kill: the faults missed the work")
    return {
        "ok": not v.items,
        "violations": v.items,
        "warnings": warnings,
        "target": run.target,
        "jobs": jobs,
        "idempotency": ids,
        "executions": executions,
        "faults": faults,
        "long_polls": long_polls,
        "recovery": recovery,
        "timing": {
            "started_at": iso(run.started_at),
            "wall_s": round(run.finished_at - run.started_at, 3),
            "fault_window_s": round(run.window_end - run.started_at, 3),
            "lease_bound_s": round(run.lease_deadline - run.started_at, 3),
            "deadline_s": round(run.deadline - run.started_at, 3),
            "deadline_rule": (
                f"lease bound = window end + 2 x ttl ({run.ttl_s:g}s) + job run time "
                f"({run.job_budget_s:g}s) + grace ({run.grace_s:g}s); deadline = lease bound "
                f"+ dispatch retry ({run.deadline - run.lease_deadline:g}s)"
            ),
        },
        "config": run.config,
    }
