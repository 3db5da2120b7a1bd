"""`make run` restarts what dies, with back-off, and still stops cleanly.

Each test SIGKILLs (or breaks) one component of a real ``python -m
services.stack`` and reads what the supervisor logged.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from services.stack.processes import free_port, http_ok
from tests.stack.conftest import StartMakeRun
from tests.stack.make_run import MakeRun, children_of, is_running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(90),
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the stack's processes"),
]

SIGKILLED = r"{name} was killed by SIGKILL after [\d.]+ s up; restarting in 0\.5 s$"


def echo(run: MakeRun, value: object, wait_s: float = 15) -> dict[str, object]:
    """Submit an echo job through the gateway and long-poll it to the end."""
    submitted = httpx.post(
        f"{run.base_url}/v1/jobs", json={"kind": "echo", "input": {"v": value}}, timeout=10
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    done = httpx.get(
        f"{run.base_url}/v1/jobs/{job_id}", params={"wait": wait_s}, timeout=wait_s + 5
    )
    return done.json()


def test_sigkilled_worker_is_restarted_and_runs_jobs(make_run: StartMakeRun) -> None:
    run = make_run(LONGHAUL_STACK_WORKERS="1")  # only the restarted worker can run the job
    run.wait_for("Longhaul is up")
    old = run.components()["worker-1"]

    os.kill(old, signal.SIGKILL)
    killed = run.wait_for(SIGKILLED.format(name="worker-1"))
    restarted = run.wait_for(r"worker-1: restart 1$", after=killed)
    run.wait_for(r"worker-1 is ready again$", after=restarted)
    run.wait_for(r"worker-1 \|.*SSE listener connected", after=restarted)
    new = run.components()["worker-1"]
    assert new != old

    assert echo(run, "after the kill")["result"] == {"v": "after the kill"}
    assert run.proc.poll() is None


def test_sigkilled_gateway_master_is_restarted_on_the_same_port(make_run: StartMakeRun) -> None:
    run = make_run()
    run.wait_for("Longhaul is up")
    master = run.components()["gateway"]
    web_workers = children_of(master)
    assert web_workers

    os.kill(master, signal.SIGKILL)
    killed = run.wait_for(SIGKILLED.format(name="gateway"))
    run.wait_for(r"gateway is ready again$", after=killed)
    assert run.components()["gateway"] != master
    # The old master's web workers held the listening socket: they must be gone.
    assert not any(is_running(pid) for pid in web_workers)
    assert echo(run, "same port")["result"] == {"v": "same port"}


def test_sigkilled_dev_server_is_restarted_and_loses_no_accepted_job(
    make_run: StartMakeRun,
) -> None:
    # A short lease: a kill between the server committing the worker's
    # task.acquire and the worker reading the answer leaves the task acquired
    # (the retried acquire gets 409, as on the real server, whose acquire needs
    # the offered version); it is offered again once that lease runs out.
    run = make_run(LONGHAUL_STACK_WORKERS="1", LONGHAUL_WORKER_TTL_S="3")
    run.wait_for("Longhaul is up")
    old = run.components()["devserver"]
    accepted = httpx.post(
        f"{run.base_url}/v1/jobs", json={"kind": "sleep", "input": {"seconds": 2}}, timeout=10
    )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]

    os.kill(old, signal.SIGKILL)
    killed = run.wait_for(SIGKILLED.format(name="devserver"))
    run.wait_for(r"devserver is ready again$", after=killed)
    assert run.components()["devserver"] != old
    assert http_ok(f"http://127.0.0.1:{run.devserver_port}/health")
    # The worker finds the new dev server by itself, within its reconnect bound.
    run.wait_for(r"worker-1 \|.*SSE listener connected", after=killed)
    # The job accepted before the kill is still there (SQLite) and completes:
    # within its 2 s, a lease of 3 s and the 5 s retry timer, with slack.
    deadline = time.monotonic() + 30
    while True:
        done = httpx.get(f"{run.base_url}/v1/jobs/{job_id}", params={"wait": 10}, timeout=20)
        if done.json()["status"] != "pending" or time.monotonic() > deadline:
            break
    assert done.json()["status"] == "succeeded", done.text
    assert done.json()["result"] == {"slept": 2.0}
    assert echo(run, "new dev server")["result"] == {"v": "new dev server"}


@contextmanager
def port_in_use() -> Iterator[tuple[int, socket.socket]]:
    """A base port whose next port is held by a listener: worker-2 cannot start on it."""
    while True:
        base = free_port()
        blocker = socket.socket()
        try:
            blocker.bind(("127.0.0.1", base + 1))
        except OSError:
            blocker.close()
            continue
        blocker.listen()
        break
    try:
        yield base, blocker
    finally:
        blocker.close()


CRASHED = (
    r"worker-2 exited with code \d+ before it was ready"
    r"(?: \((?P<row>\d+) exits in a row: CrashLoopBackOff\))?; restarting in (?P<delay>[\d.]+) s$"
)


def test_child_failing_at_start_is_retried_with_growing_delays(make_run: StartMakeRun) -> None:
    with port_in_use() as (base, blocker):
        run = make_run(metrics_base_port=base)
        exits, at = [], 0
        for _ in range(3):
            at = run.wait_for(CRASHED, after=at + 1 if exits else 0)
            exits.append(run.match(at, CRASHED))
        assert [float(m["delay"]) for m in exits] == [0.5, 1.0, 2.0]
        assert [m["row"] for m in exits] == [None, "2", "3"]

        # Meanwhile the rest of the stack serves.
        assert run.proc.poll() is None
        assert http_ok(f"{run.base_url}/healthz")
        assert echo(run, "while worker-2 crashes")["result"] == {"v": "while worker-2 crashes"}
        assert not any("Longhaul is up" in line for line in run.lines)

        blocker.close()  # the cause goes away: the next retry succeeds
        recovered = run.wait_for(r"worker-2 is ready again$", after=at, timeout=30)
        run.wait_for("Longhaul is up", after=recovered)


def test_ctrl_c_during_backoff_leaves_no_process_behind(make_run: StartMakeRun) -> None:
    with port_in_use() as (base, _blocker):
        run = make_run(metrics_base_port=base)
        run.wait_for(CRASHED.replace(r"(?P<delay>[\d.]+)", "2"))  # 2 s before the next try
        assert run.interrupt(signal.SIGINT) == 0
        stopping = max(i for i, line in enumerate(run.lines) if "restarting in 2 s" in line)
        assert not any("worker-2: restart" in line for line in run.lines[stopping:])
        assert run.leftovers() == []
