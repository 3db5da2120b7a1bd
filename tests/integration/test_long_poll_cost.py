"""A long-poll costs the Resonate server at most three requests, and wakes within ms of the settle.

Real processes: the dev server, a gunicorn gateway with two workers, no job
workers (the jobs stay pending until the test cancels them). Requests are
counted on the dev server's side, from its own ``resonate_request_total``
(the real server's counter). With ``LONGHAUL_WAIT_PUSH=false`` in the
environment the gateway re-reads on its old backoff and the first test fails
(~12 requests for a 3 s wait).
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.integration.client import Api, metric_sum
from tests.integration.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("own_devserver")]

WAIT_S = 3
#: No job workers: a job stays pending until the test settles it.
GATEWAY_ENV = {"LONGHAUL_REQUIRE_WORKERS": "false"}
#: Time from the cancel's answer to the long-poll's, on a loaded 2-core machine.
#: The backoff it replaces re-reads every 0.5 s after the first four seconds.
WAKE_WITHIN_S = 0.25


def _requests(resonate_url: str) -> float:
    return metric_sum([resonate_url], "resonate_request_total")


def _pollers(resonate_url: str) -> int:
    return httpx.get(f"{resonate_url}/ready", timeout=2).json()["pollers"].get("gateway", 0)


def test_a_pending_long_poll_costs_at_most_three_requests(make_stack: StackFactory) -> None:
    stack = make_stack(workers=0, web_concurrency=2, gateway_env=GATEWAY_ENV)
    api = Api(stack.gateway_url)
    deadline = time.monotonic() + 10
    while _pollers(stack.resonate_url) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    job_id = api.submit_ok("sleep", {"seconds": 600})
    for wait in (1, WAIT_S):
        before = _requests(stack.resonate_url)
        started = time.monotonic()
        assert api.job(job_id, wait=wait)["status"] == "pending"
        assert time.monotonic() - started >= wait
        cost = _requests(stack.resonate_url) - before
        assert cost <= 3, f"a {wait} s long-poll cost {cost} Resonate requests"
    assert _pollers(stack.resonate_url) == 2  # one push stream per gunicorn worker


def test_a_long_poll_wakes_within_ms_of_the_settle(make_stack: StackFactory) -> None:
    stack = make_stack(workers=0, web_concurrency=1, gateway_env=GATEWAY_ENV)
    api = Api(stack.gateway_url)
    job_id = api.submit_ok("sleep", {"seconds": 600})
    seen: dict[str, float | str] = {}

    def long_poll() -> None:
        with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
            body = client.get(f"/v1/jobs/{job_id}", params={"wait": 10}).json()
        seen["at"], seen["status"] = time.monotonic(), body["status"]

    waiter = threading.Thread(target=long_poll)
    waiter.start()
    # Past the backoff's first steps, so only push can make it quick.
    time.sleep(4.5)
    assert api.http.delete(f"/v1/jobs/{job_id}").status_code == 200
    canceled_at = time.monotonic()
    waiter.join(15)
    assert seen["status"] == "canceled"
    assert float(seen["at"]) - canceled_at < WAKE_WITHIN_S
    assert metric_sum([stack.gateway_url], "longhaul_gateway_wait_ends_total", how="push") == 1
