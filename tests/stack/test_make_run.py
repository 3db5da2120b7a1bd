"""`make run`'s program: starts everything, serves jobs, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import signal
import sys

import httpx
import pytest

from tests.stack.conftest import StartMakeRun

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find leftover processes"),
]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_stack_starts_serves_and_stops_cleanly(
    make_run: StartMakeRun, stop_signal: signal.Signals
) -> None:
    run = make_run()
    run.wait_for("Longhaul is up")
    assert len(run.leftovers()) >= 5  # stack, dev server, gateway x2, workers
    job = httpx.post(f"{run.base_url}/v1/jobs", json={"kind": "echo", "input": {"a": 1}}).json()
    done = httpx.get(f"{run.base_url}/v1/jobs/{job['id']}", params={"wait": 10}).json()
    assert done["result"] == {"a": 1}

    assert run.interrupt(stop_signal) == 0
    assert run.leftovers() == []
