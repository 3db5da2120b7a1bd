"""What the long-poll probe saw, judged: every answer right, ``pending`` only when it was so.

- ``long_polls_observed``: the probe got answers at all (else it proved nothing);
- ``long_poll_right_outcome``: a terminal answer is the job's own outcome (the
  status and result the driver finally read);
- ``long_poll_pending_only_when_waited``: ``pending`` comes only after the
  whole wait (``sent + wait``), never early;
- ``long_poll_saw_settle``: ``pending`` never answers for a job the server had
  settled ``SETTLE_SLACK_S`` before the answer left: with push lost (a gateway
  stream cut by a dev-server restart) the final read at the deadline must
  still see it.

Failed long-polls (a killed gateway, a 503 while the dev server restarts) are
allowed: the client asks again. They are counted, by kind.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.chaos.model import JobRecord, RunRecord
from tests.chaos.probes.longpoll import LongPoll

#: Slack for the clocks of one host, the response in flight and a loaded machine.
SETTLE_SLACK_S = 0.5
#: A wait measured by the client may end this much before ``sent + wait`` (timer granularity).
WAIT_SLACK_S = 0.05


def check_long_polls(run: RunRecord, polls: list[LongPoll], v: Any) -> dict[str, Any]:
    jobs: dict[str, JobRecord] = {j.job_id: j for j in run.jobs if j.job_id is not None}
    answered = [p for p in polls if p.code == 200]
    wrong, early, missed = [], [], []
    woken: list[float] = []
    for p in answered:
        job = jobs.get(p.job_id)
        if job is None:
            continue
        if p.status == "pending":
            if p.answered_at - p.sent_at < p.wait_s - WAIT_SLACK_S:
                early.append(p.job_id)
            if job.completed_at is not None and job.completed_at < p.answered_at - SETTLE_SLACK_S:
                missed.append(p.job_id)
            continue
        if p.status != job.status or p.result != job.result:
            wrong.append(p.job_id)
        if job.completed_at is not None and job.completed_at > p.sent_at:
            woken.append(p.answered_at - job.completed_at)  # held, then woken by the settle
    if not answered and run.config.get("long_poll_clients", 0):
        v.add("long_polls_observed", "the long-poll probe got no answer at all", [])
    if wrong:
        v.add(
            "long_poll_right_outcome",
            "a long-poll answered a terminal state other than the job's own outcome",
            wrong,
        )
    if early:
        v.add(
            "long_poll_pending_only_when_waited",
            "a long-poll answered pending before its wait had elapsed",
            early,
        )
    if missed:
        v.add(
            "long_poll_saw_settle",
            f"a long-poll answered pending more than {SETTLE_SLACK_S:g}s after its job settled",
            missed,
        )
    statuses = Counter(p.status for p in answered)
    return {
        "long_polls": len(polls),
        "answered": dict(statuses),
        "woken_by_settle": len(woken),
        # From the server's settle to the answer leaving the gateway (server clock, same host).
        "woken_after_settle_ms": _spread(woken),
        "failed": dict(Counter(p.error or f"http_{p.code}" for p in polls if p.code != 200)),
    }


def _spread(delays: list[float]) -> dict[str, float] | None:
    if not delays:
        return None
    ordered = sorted(delays)
    at = lambda q: round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)  # noqa: E731
    return {"p50": at(0.5), "p99": at(0.99), "max": round(1000 * ordered[-1], 1)}
