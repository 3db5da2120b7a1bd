"""No acknowledged job is lost while workers, gunicorn workers, the gateway and the dev
Resonate server are SIGKILLed.

A dev server (SQLite state, 5 s retry timer), a gunicorn gateway with 2
workers and 3 workers with a 2.5 s lease take 200 pipeline jobs (0-0.5 s
steps) over a 40 s fault window with 6 worker kills, 2 gunicorn-worker kills,
2 whole-gateway kills and 2 dev-server kills (restarted on the same port and
file); the checker's invariants (tests/chaos/checker.py) must all hold, every
job done within the fault window + 2 x lease (+ its own 1.5 s and 3 s of
grace) + the server's 5 s retry of a task offered to a worker that died.
Each dev-server kill must be recovered from (server ready, every worker
listening again) within 20 s. Every job is submitted with ``notify``: each
must reach a local receiver with a valid signature at least once
(duplicates counted, tests/chaos/webhook_sink.py). Against a server given by ``--resonate-url``
the dev-server kills are left out: that server is not ours to kill. A long-poll probe
(tests/chaos/probes/longpoll.py) holds ?wait= reads throughout: each must answer the
job's outcome, or pending only once its wait elapsed and its job had not settled.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

import pytest
import structlog

from tests.chaos.probes.procs import children
from tests.chaos.runner import run_chaos
from tests.chaos.settings import ChaosSettings
from tests.chaos.support import log_tails
from tests.chaos.targets import local_target

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]
log = structlog.get_logger("longhaul.chaos.test")

FAULTS = {"worker_kill": 6, "gunicorn_worker_kill": 2, "gateway_kill": 2, "resonate_kill": 2}
#: The local stack's RESONATE_TASKS__RETRY_TIMEOUT (the chart's value for the real server).
RETRY_TIMER_S = 5.0


def test_no_acknowledged_job_is_lost_under_process_faults(
    tmp_path: Path, resonate_url: str | None
) -> None:
    faults = {**FAULTS, "resonate_kill": 0} if resonate_url else FAULTS
    settings = ChaosSettings(
        resonate_url=resonate_url,
        jobs=200,
        workers=3,
        web_concurrency=2,
        ttl=2.5,
        duration=40,
        worker_kills=faults["worker_kill"],
        gunicorn_kills=faults["gunicorn_worker_kill"],
        gateway_kills=faults["gateway_kill"],
        resonate_kills=faults["resonate_kill"],
        max_step_delay=0.5,
        max_values=8,
        resubmit_sample=20,
        # As on the real server, a task offered to a worker that died before
        # claiming it (or offered while no stream was open) waits for the retry timer.
        dispatch_retry=RETRY_TIMER_S,
        # Bounds the run even if something hangs: well inside the test timeout.
        max_run=150,
        # Every job with notify: each must be delivered, signed, at least once.
        webhooks=True,
        webhook_wait=45,
    )
    log_dir = tmp_path / "logs"
    with local_target(settings, log_dir, random.Random()) as target:
        report, _ = asyncio.run(run_chaos(settings, target))
    (tmp_path / "report.json").write_text(json.dumps(report, indent=2))
    log.info("chaos report", report=report)

    # Every process the stack started is gone (stopped, or killed and reaped).
    assert children(os.getpid()) == []
    why = f"{json.dumps(report['violations'], indent=2)}\n{log_tails(log_dir)}"
    assert report["ok"], why
    assert report["jobs"]["acknowledged"] == 200
    assert report["jobs"]["completed"] == {"succeeded": 200}
    assert report["faults"]["injected"] == {k: n for k, n in faults.items() if n}
    # The faults met work in flight: some steps ran again on another worker.
    assert report["executions"]["interrupted_jobs"] > 0, why
    assert report["idempotency"]["same_id"] == report["idempotency"]["same_result"] == 20
    assert report["timing"]["wall_s"] < 150
    hooks = report["webhooks"]
    assert hooks["delivered_jobs"] == 200 and hooks["missing"] == 0, why
    assert hooks["unsigned"] == 0
    # Some first attempts were answered 503: retries ran under the faults too.
    assert hooks["refused_first_attempts"] > 0
    # The long-poll probe held long-polls through the faults; some were woken by a settle.
    assert report["long_polls"]["answered"].get("succeeded", 0) > 0, report["long_polls"]
    assert report["long_polls"]["woken_by_settle"] > 0, report["long_polls"]
    restores = report["recovery"]["resonate_kill_restored_after_s"]
    assert len(restores) == faults["resonate_kill"]
    assert all(r < settings.resonate_recovery_bound for r in restores), restores
