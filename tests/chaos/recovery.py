"""Figures of a run that are measured, not asserted: recovery after faults, job latency."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from tests.chaos.actions.base import RESONATE_KILL, WORKER_KILL
from tests.chaos.model import FaultRecord, JobRecord, RunRecord


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def completion(job: JobRecord) -> float | None:
    """When the job succeeded: the server's completed_at, else when we saw it."""
    if job.status != "succeeded":
        return None
    return job.completed_at if job.completed_at is not None else job.done_at


def _resumed_after(fault: FaultRecord, jobs: list[JobRecord]) -> float | None:
    """Longest time from a worker kill to the victim's interrupted work restarting elsewhere."""
    delays = []
    for job in jobs:
        if not any(e.pid == fault.target for e in job.executions):
            continue
        later = [
            e.at_ms / 1000
            for e in job.executions
            if e.pid != fault.target and e.at_ms / 1000 > fault.at
        ]
        if later:
            delays.append(min(later) - fault.at)
    return max(delays) if delays else None


def fault_recovery(fault: FaultRecord, jobs: list[JobRecord], start: float) -> dict[str, Any]:
    """One fault: when, what, how long its target took to return, and its effect on jobs."""
    done = [c for j in jobs if (c := completion(j)) is not None]
    after = [c - fault.at for c in done if c >= fault.at]
    in_flight = [
        j
        for j in jobs
        if j.acked_at is not None
        and j.acked_at <= fault.at
        and ((c := completion(j)) is None or c > fault.at)
    ]
    unfinished = [j for j in in_flight if completion(j) is None]
    drained = max(((completion(j) or 0) - fault.at for j in in_flight), default=0.0)
    figures: dict[str, Any] = {
        "kind": fault.kind,
        "target": fault.target,
        "at": iso(fault.at),
        "t_s": _r(fault.at - start),
        "restored_after_s": _r(fault.recovered_at - fault.at) if fault.recovered_at else None,
        "next_completion_s": _r(min(after)) if after else None,
        "in_flight": len(in_flight),
        "in_flight_done_after_s": None if unfinished else _r(drained),
    }
    if fault.kind == WORKER_KILL:
        figures["victim_work_resumed_after_s"] = _r(_resumed_after(fault, jobs))
    if fault.error:
        figures["error"] = fault.error
    return figures


def summarize(run: RunRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(recovery figures, per-fault timeline)."""
    per_fault = [fault_recovery(f, run.jobs, run.started_at) for f in run.faults]
    slowest = max(
        (f for f in per_fault if f["in_flight_done_after_s"] is not None),
        key=lambda f: f["in_flight_done_after_s"],
        default=None,
    )
    resumed = [
        f["victim_work_resumed_after_s"]
        for f in per_fault
        if f.get("victim_work_resumed_after_s") is not None
    ]
    latency = [
        c - j.acked_at
        for j in run.jobs
        if (c := completion(j)) is not None and j.acked_at is not None
    ]
    restores = [
        f["restored_after_s"]
        for f in per_fault
        if f["kind"] == RESONATE_KILL and f["restored_after_s"] is not None
    ]
    figures = {
        "resonate_kill_restored_after_s": restores,
        "slowest_resonate_kill_restore_s": max(restores) if restores else None,
        "slowest_recovery_s": slowest["in_flight_done_after_s"] if slowest else None,
        "slowest_recovery_fault": slowest,
        "slowest_worker_kill_resume_s": max(resumed) if resumed else None,
        "job_latency_s": {
            "p50": _r(percentile(latency, 0.5)),
            "p95": _r(percentile(latency, 0.95)),
            "p99": _r(percentile(latency, 0.99)),
            "max": _r(max(latency)) if latency else None,
        },
    }
    return figures, per_fault
