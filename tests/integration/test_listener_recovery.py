"""Real workers keep taking work when the Resonate server cuts their stream or restarts.

Against the dev server (its test-only routes, and a SIGKILL + restart on the
same port and SQLite file): each worker's listener reconnects within the bound
it is configured with, its /readyz tells the truth meanwhile, and no job is lost.
"""

from __future__ import annotations

import time

import httpx
import pytest

from services.stack.local import LocalStack
from tests.integration.client import Api, metric_sum
from tests.integration.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("own_devserver")]

#: The workers' LONGHAUL_WORKER_LISTENER_RECONNECT_MAX_S in these tests.
RECONNECT_MAX_S = 0.5
#: Process scheduling on a loaded 2-core machine, on top of the bound.
SLACK_S = 1.5
WORKER_ENV = {"LONGHAUL_WORKER_LISTENER_RECONNECT_MAX_S": str(RECONNECT_MAX_S)}


def worker_urls(stack: LocalStack) -> list[str]:
    return [(w.spec.ready_url or "").rsplit("/", 1)[0] for w in stack.workers]


def listener(url: str) -> tuple[int, dict]:
    try:
        response = httpx.get(f"{url}/readyz", timeout=2)
    except httpx.HTTPError:
        return 0, {}
    return response.status_code, response.json().get("listener", {})


def wait_all_listening(stack: LocalStack, connections: int, within: float) -> float:
    """Seconds until every worker's listener is connected for the ``connections``-th time."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        states = [listener(url) for url in worker_urls(stack)]
        if all(code == 200 and s.get("connections") == connections for code, s in states):
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"listeners not back within {within}s: {states}")


def test_a_stream_closed_by_the_server_is_reopened_within_the_bound(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(
        workers=2,
        worker_env=WORKER_ENV,
        devserver_env={"LONGHAUL_DEVSERVER_TEST_ROUTES": "true"},
    )
    api = Api(stack.gateway_url)
    assert api.wait_done(api.submit_ok("echo", {"n": 1}))["status"] == "succeeded"
    wait_all_listening(stack, connections=1, within=5)

    closed = httpx.post(f"{stack.resonate_url}/test/close-streams", params={"group": "worker"})
    assert closed.json()["closed"] == 2
    took = wait_all_listening(stack, connections=2, within=RECONNECT_MAX_S + SLACK_S)
    assert took < RECONNECT_MAX_S + SLACK_S

    reconnects = metric_sum(
        worker_urls(stack), "longhaul_worker_listener_reconnects_total", cause="closed"
    )
    assert reconnects == 2
    # New work reaches the reconnected workers at once, not after a retry timer.
    started = time.monotonic()
    job = api.wait_done(api.submit_ok("echo", {"n": 2}), timeout=10)
    assert job["status"] == "succeeded" and job["result"] == {"n": 2}
    assert time.monotonic() - started < 3


def test_workers_and_gateway_recover_from_a_resonate_server_restart(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(
        workers=2, worker_env=WORKER_ENV, gateway_env={"LONGHAUL_RESONATE_TIMEOUT_S": "1"}
    )
    api = Api(stack.gateway_url)
    wait_all_listening(stack, connections=1, within=5)
    in_flight = api.submit_ok("sleep", {"seconds": 3})
    time.sleep(0.5)  # the sleep job has started on a worker

    assert stack.devserver is not None
    stack.devserver.kill()
    # While it is down: reads are an explicit 503, workers say why they are not ready.
    read = api.http.get(f"/v1/jobs/{in_flight}")
    assert read.status_code == 503, read.text
    code, state = listener(worker_urls(stack)[0])
    assert code == 503 and state["state"] == "reconnecting"

    stack.devserver.restart()
    took = wait_all_listening(stack, connections=2, within=RECONNECT_MAX_S + SLACK_S)
    assert took < RECONNECT_MAX_S + SLACK_S
    # The truth again, and nothing lost: the job accepted before the kill completes.
    assert api.wait_done(in_flight, timeout=30)["result"] == {"slept": 3.0}
    fresh = api.wait_done(api.submit_ok("echo", {"after": "restart"}), timeout=10)
    assert fresh["status"] == "succeeded"
