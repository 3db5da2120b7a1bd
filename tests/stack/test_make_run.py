"""`make run`'s program: starts everything, serves jobs, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from services.stack.layout import REPO_ROOT
from services.stack.processes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def processes_with_marker(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find leftover processes")
def test_stack_starts_serves_and_stops_cleanly_on_sigint() -> None:
    marker = f"LONGHAUL_TEST_MARKER={uuid.uuid4().hex}"
    port, dev_port = free_port(), free_port()
    env = {
        **os.environ,
        marker.split("=")[0]: marker.split("=")[1],
        "PORT": str(port),
        "LONGHAUL_STACK_DEVSERVER_PORT": str(dev_port),
        "LONGHAUL_STACK_WORKER_METRICS_BASE_PORT": str(free_port()),
    }
    env.pop("RESONATE_URL", None)
    stack = subprocess.Popen(
        [sys.executable, "-m", "services.stack"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert stack.stdout is not None
        deadline = time.monotonic() + 30
        for line in stack.stdout:
            if "Longhaul is up" in line or time.monotonic() > deadline:
                break
        assert len(processes_with_marker(marker)) >= 5  # stack, dev server, gateway x3, workers
        base = f"http://127.0.0.1:{port}"
        job = httpx.post(f"{base}/v1/jobs", json={"kind": "echo", "input": {"a": 1}}).json()
        done = httpx.get(f"{base}/v1/jobs/{job['id']}", params={"wait": 10}).json()
        assert done["result"] == {"a": 1}

        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=30) == 0
        assert processes_with_marker(marker) == []
    finally:
        if stack.poll() is None:
            stack.kill()
