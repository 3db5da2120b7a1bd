"""`LONGHAUL_RETENTION=... make run`: the setting reaches the dev server, a finished job goes."""

from __future__ import annotations

import sys
import time

import httpx
import pytest

from tests.stack.conftest import StartMakeRun
from tests.stack.make_run import environ_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(90),
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the dev server"),
]


def test_a_finished_job_is_404_after_retention(make_run: StartMakeRun) -> None:
    run = make_run(LONGHAUL_RETENTION="3s", LONGHAUL_DEVSERVER_RETENTION_SWEEP_S="1")
    run.wait_for("Longhaul is up")
    assert environ_of(run.components()["devserver"])["LONGHAUL_RETENTION"] == "3s"
    job = httpx.post(f"{run.base_url}/v1/jobs", json={"kind": "echo", "input": {"a": 1}}).json()
    url = f"{run.base_url}/v1/jobs/{job['id']}"
    assert httpx.get(url, params={"wait": 10}).json()["status"] == "succeeded"
    deadline = time.monotonic() + 30
    while (status := httpx.get(url).status_code) == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 404, run.tail()
    assert any("retention sweep deleted" in line for line in run.lines), run.tail()
    assert run.interrupt() == 0
