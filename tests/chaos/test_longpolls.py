"""The long-poll checks fail on broken long-polls: made-up observations, one fault each."""

from __future__ import annotations

import pytest

from tests.chaos.checker import check
from tests.chaos.model import RunRecord
from tests.chaos.probes.longpoll import LongPoll
from tests.chaos.test_checker import T0, clean_run, invariants

pytestmark = pytest.mark.unit


def with_polls(*polls: LongPoll) -> RunRecord:
    run = clean_run()
    run.config["long_poll_clients"] = 2
    run.long_polls = list(polls)
    return run


def right(job_id: str = "job-0", **kw: object) -> LongPoll:
    """job-0 settles at T0 + 3: a long-poll sent at T0 + 2.5 woken at its settle."""
    run = clean_run()
    job = next(j for j in run.jobs if j.job_id == job_id)
    values = {
        "job_id": job_id,
        "wait_s": 2.0,
        "sent_at": T0 + 2.5,
        "answered_at": T0 + 3.01,
        "code": 200,
        "status": "succeeded",
        "result": job.result,
    }
    values.update(kw)
    return LongPoll(**values)  # type: ignore[arg-type]


def test_right_answers_and_failed_requests_pass() -> None:
    report = check(
        with_polls(
            right(),
            # pending after the whole wait, before the settle
            right(sent_at=T0, answered_at=T0 + 2.0, status="pending", result=None),
            # a killed gateway: the request failed, the client asked again
            right(code=0, status=None, result=None, error="ConnectError"),
        )
    )
    assert report["ok"], report["violations"]
    assert report["long_polls"] == {
        "long_polls": 3,
        "answered": {"succeeded": 1, "pending": 1},
        "woken_by_settle": 1,
        "woken_after_settle_ms": {"p50": 10.0, "p99": 10.0, "max": 10.0},
        "failed": {"ConnectError": 1},
    }


def test_a_wrong_terminal_answer_fails() -> None:
    report = check(with_polls(right(result={"stats": {}}), right("job-1", status="failed")))
    assert invariants(report)["long_poll_right_outcome"]["examples"] == ["job-0", "job-1"]


def test_pending_before_the_wait_elapsed_fails() -> None:
    early = right(sent_at=T0, answered_at=T0 + 1.0, status="pending", result=None)
    assert "long_poll_pending_only_when_waited" in invariants(check(with_polls(early)))


def test_pending_long_after_the_settle_fails() -> None:
    """The push was lost (a dev-server restart) and no final read saved it."""
    missed = right(sent_at=T0 + 2.0, answered_at=T0 + 4.0, status="pending", result=None)
    assert invariants(check(with_polls(missed)))["long_poll_saw_settle"]["examples"] == ["job-0"]


def test_a_probe_that_got_no_answer_proves_nothing() -> None:
    failed = right(code=503, status=None, result=None, error="http")
    assert "long_polls_observed" in invariants(check(with_polls(failed)))
    assert check(clean_run())["ok"]  # no probe configured: nothing asked of it
