"""Completion webhooks against real processes: dev server, gunicorn gateway, workers.

A receiver on 127.0.0.1 verifies every delivery with ``standardwebhooks``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.client import Api
from tests.integration.conftest import StackFactory
from tests.webhook_receiver import TEST_SECRET, ThreadedReceiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LOOPBACK = "127.0.0.0/8"
WORKER_ENV = {
    "LONGHAUL_WEBHOOK_SECRETS": TEST_SECRET,
    "LONGHAUL_WEBHOOK_ALLOWED_NETWORKS": LOOPBACK,
    "LONGHAUL_WEBHOOK_RETRY_DELAYS_S": "0.3,0.5,1,1,2,2,2",
}
GATEWAY_ENV = {"LONGHAUL_WEBHOOK_ALLOWED_NETWORKS": LOOPBACK}


@pytest.fixture
def receiver() -> Iterator[ThreadedReceiver]:
    r = ThreadedReceiver()
    yield r
    r.close()


def _stack(make_stack: StackFactory) -> Api:
    stack = make_stack(workers=2, gateway_env=GATEWAY_ENV, worker_env=WORKER_ENV)
    return Api(stack.gateway_url)


def _submit(api: Api, url: str, kind: str, input: dict[str, Any], **extra: Any) -> str:
    response = api.submit(kind, input, notify={"url": url}, **extra)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _notified(api: Api, job_id: str, state: str = "delivered", timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        view = api.job(job_id)
        if view.get("notification", {}).get("state") == state:
            return view
        assert time.monotonic() < deadline, view
        time.sleep(0.1)


def test_succeeded_canceled_and_timed_out_jobs_are_each_delivered_once(
    make_stack: StackFactory, receiver: ThreadedReceiver
) -> None:
    api = _stack(make_stack)
    done = _submit(api, receiver.url, "echo", {"n": 1})
    canceled = _submit(api, receiver.url, "sleep", {"seconds": 600})
    timed_out = _submit(api, receiver.url, "sleep", {"seconds": 600}, timeout_s=1)
    time.sleep(0.5)
    assert api.http.delete(f"/v1/jobs/{canceled}").status_code == 200
    expected = {done: "job.succeeded", canceled: "job.canceled", timed_out: "job.timed_out"}
    for job_id, event_type in expected.items():
        view = _notified(api, job_id)
        assert view["notification"]["attempts"] == 1
        [delivery] = receiver.for_job(job_id)
        assert delivery.verified, delivery.headers
        assert delivery.event["type"] == event_type
        assert delivery.event["data"] == {k: v for k, v in view.items() if k != "notification"}
    time.sleep(1.0)
    assert len(receiver.deliveries) == 3


def test_500_then_200_is_delivered_on_the_retry(
    make_stack: StackFactory, receiver: ThreadedReceiver
) -> None:
    api = _stack(make_stack)
    receiver.answer(500)
    job_id = _submit(api, receiver.url, "echo", {"n": 2})
    view = _notified(api, job_id)
    assert view["notification"]["attempts"] == 2
    assert view["notification"]["last_status"] == 200
    deliveries = receiver.for_job(job_id)
    assert [d.verified for d in deliveries] == [True, True]
    assert deliveries[0].body == deliveries[1].body


def test_a_receiver_down_for_a_while_gets_it_once_it_is_up(
    make_stack: StackFactory, receiver: ThreadedReceiver
) -> None:
    api = _stack(make_stack)
    receiver.stop()
    job_id = _submit(api, receiver.url, "echo", {"n": 3})
    retrying = _notified(api, job_id, state="retrying", timeout=15)
    assert retrying["notification"]["attempts"] >= 1
    assert retrying["notification"]["last_status"] is None
    assert "connection" in retrying["notification"]["last_error"]
    time.sleep(1.0)
    receiver.start()
    view = _notified(api, job_id)
    assert view["notification"]["attempts"] >= 2
    [delivery] = receiver.for_job(job_id)
    assert delivery.verified
