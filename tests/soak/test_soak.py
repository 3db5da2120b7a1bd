"""The stack keeps taking work for longer than every default timeout in its path.

400 s of a job a second against a dev server, a gunicorn gateway and two
workers; within the first 45 s two worker SIGKILLs, one gunicorn-worker
SIGKILL and one whole-gateway SIGKILL, then nothing but load. Every process
still alive at the end has then been running for more than 330 s, past
aiohttp's 300 s default total timeout, uvicorn's and gunicorn's keep-alives,
the leases and the retry timers. Every acknowledged job must complete (the
chaos checker's invariants) and every worker must still be listening.

On resonate-sdk 0.8.1's own listener this fails: each worker goes deaf 300 s
after it connects, and the jobs of the last minute are never run.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.chaos.probes.procs import children
from tests.chaos.support import log_tails
from tests.soak.run import run_soak
from tests.soak.settings import SoakSettings

pytestmark = [pytest.mark.soak, pytest.mark.timeout(900)]

#: aiohttp's ClientTimeout(total=300) plus a margin: the run must cross it.
LONGEST_DEFAULT_TIMEOUT_S = 300


def test_every_job_completes_for_longer_than_every_default_timeout(
    tmp_path: Path, resonate_url: str | None
) -> None:
    settings = SoakSettings(
        resonate_url=resonate_url,
        duration=400,
        rate=1.0,
        fault_window=45,
        log_dir=tmp_path / "logs",
        report=tmp_path / "soak.json",
    )
    report = asyncio.run(run_soak(settings))
    (tmp_path / "soak.json").write_text(json.dumps(report, indent=2))
    why = (
        f"{json.dumps(report['chaos']['violations'], indent=2)}\n"
        f"{json.dumps(report['listeners'], indent=2)}\n{log_tails(tmp_path / 'logs')}"
    )
    assert children(os.getpid()) == []
    assert report["longest_lived_worker_s"] > LONGEST_DEFAULT_TIMEOUT_S + 30, why
    assert report["chaos"]["ok"], why
    acknowledged = report["throughput"]["acknowledged"]
    assert acknowledged == settings.chaos().jobs
    assert report["throughput"]["succeeded"] == acknowledged, why
    # The jobs submitted after every worker's 300 s mark ran too.
    last_minute = report["timeline"][-2]
    assert last_minute["completed"] > 0, report["timeline"]
    assert report["chaos"]["faults"]["injected"] == {
        "worker_kill": 2,
        "gunicorn_worker_kill": 1,
        "gateway_kill": 1,
    }
    # Health told the truth: every worker still listening says so.
    assert report["listeners"], why
    for name, state in report["listeners"].items():
        assert state["status"] == "ready", (name, state)
        assert state["listener"]["state"] == "connected", (name, state)
    assert report["ok"]
