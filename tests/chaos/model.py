"""What a run observed: the one input of the checker.

Plain data, so a test can hand the checker a run it made up (a broken one)
exactly as the driver, the fault scheduler and the ledger probe fill it in.
Times are wall-clock seconds (``time.time()``), comparable with the server's
``completed_at`` and the ledger's ``at_ms`` on the same host or cluster.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"succeeded", "failed", "canceled", "timed_out"})
#: The pipeline's steps in order; ``publish`` is its side effect.
STEPS = ("normalize", "compute_stats", "publish")
SIDE_EFFECT_STEP = "publish"


@dataclass(frozen=True)
class Execution:
    """One ledger entry: a step of a job started on worker ``pid`` at ``at_ms``."""

    step: str
    n: int
    pid: str
    at_ms: int


@dataclass
class JobRecord:
    index: int
    key: str
    body: dict[str, Any]
    expected: dict[str, float]
    job_id: str | None = None
    acked_at: float | None = None
    submit_attempts: int = 0
    submit_errors: Counter[str] = field(default_factory=Counter)
    rejected: str | None = None
    #: Every id the gateway answered for this key (202 bodies and status reads).
    answered_ids: set[str] = field(default_factory=set)
    status: str | None = None
    result: Any = None
    done_at: float | None = None
    completed_at: float | None = None
    poll_errors: Counter[str] = field(default_factory=Counter)
    resubmitted_id: str | None = None
    resubmitted_result: Any = None
    resubmit_error: str | None = None
    executions: list[Execution] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.job_id is not None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass
class FaultRecord:
    kind: str
    target: str
    at: float
    recovered_at: float | None = None
    error: str | None = None


@dataclass
class RunRecord:
    target: str
    started_at: float
    ttl_s: float
    grace_s: float
    job_budget_s: float
    window_end: float
    #: design.md's bound: window end + 2 x lease (+ a job's run time and grace).
    lease_deadline: float
    #: The bound for "lost": the lease bound plus the server's retry of a task
    #: that was offered to a worker which died before claiming it.
    deadline: float
    finished_at: float
    jobs: list[JobRecord]
    faults: list[FaultRecord]
    planned_faults: dict[str, int]
    #: Ids the gateway answered that belong to no submitted key, with their executions.
    unexpected: dict[str, list[Execution]] = field(default_factory=dict)
    ledger_error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: A Resonate-server kill must be recovered from within this (None: no bound).
    resonate_recovery_bound_s: float | None = None
    #: What the long-poll probe saw (``probes/longpoll.py`` ``LongPoll``).
    long_polls: list[Any] = field(default_factory=list)
