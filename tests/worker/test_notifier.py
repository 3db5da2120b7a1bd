"""The durable notifier in-process: awaits the job's promise, delivers, retries, stops."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from resonate.testing import local_resonate
from resonate.timing import now_ms
from resonate.types import TaskData, Value

from services.common.webhook_networks import NetworkPolicy, parse_networks
from services.contract import GROUP
from services.contract.notify import (
    NOTIFY_FUNCTION,
    NOTIFY_VERSION,
    attempt_id,
    notify_id,
    notify_tags,
)
from services.worker.metrics import WorkerMetrics
from services.worker.notify.guard import guarded_session
from services.worker.notify.metrics import WebhookMetrics
from services.worker.notify.notifier import NotifyDeps, register_notifier
from services.worker.notify.signing import Signer
from tests.webhook_receiver import TEST_SECRET, Receiver

pytestmark = pytest.mark.unit

LOOPBACK = NetworkPolicy(parse_networks(["127.0.0.0/8"]))


@pytest.fixture
async def receiver():
    r = await Receiver().start()
    yield r
    await r.stop()


async def _stack(policy: NetworkPolicy = LOOPBACK, delays: tuple[float, ...] = (0.05, 0.05)):
    resonate = local_resonate(ttl=timedelta(seconds=600))
    metrics = WorkerMetrics()
    deps = NotifyDeps(
        promises=resonate.promises,
        session=guarded_session(policy),
        policy=policy,
        signer=Signer.from_secrets([TEST_SECRET]),
        metrics=WebhookMetrics(metrics.registry),
        delays_s=delays,
        jitter=0.0,
        attempt_timeout_s=2,
        max_retry_after_s=0.2,
        max_event_bytes=4096,
    )
    register_notifier(resonate, deps)
    return resonate, deps, metrics


async def _submit(resonate: Any, job_id: str, url: str) -> None:
    """What the gateway does: the job's promise, then its notifier's."""
    deadline = now_ms() + 600_000
    await resonate.promises.create(
        job_id, deadline, Value(data={"job": True}), {"longhaul:kind": "echo"}
    )
    param = Value(
        data=TaskData(
            func=NOTIFY_FUNCTION, args=(job_id, url, None), kwargs={}, version=NOTIFY_VERSION
        )
    )
    await resonate.promises.create(notify_id(job_id), deadline, param, notify_tags(job_id, GROUP))


async def _settled(resonate: Any, promise_id: str, timeout_s: float = 10) -> Any:
    async with asyncio.timeout(timeout_s):
        while True:
            record = await resonate.promises.get(promise_id)
            if record.state != "pending":
                return record
            await asyncio.sleep(0.02)


def _sample(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_waits_for_the_job_then_delivers_one_signed_event(receiver: Receiver) -> None:
    resonate, deps, metrics = await _stack()
    try:
        await _submit(resonate, "t.job-1", receiver.url)
        await asyncio.sleep(0.3)
        assert receiver.deliveries == []  # the job is pending: nothing is sent
        assert (await resonate.promises.get(notify_id("t.job-1"))).state == "pending"
        await resonate.promises.resolve("t.job-1", Value(data={"answer": 42}))
        summary = (await _settled(resonate, notify_id("t.job-1"))).value.data
        assert summary["state"] == "delivered" and summary["attempts"] == 1
        assert summary["last_status"] == 200
        [delivery] = receiver.deliveries
        assert delivery.verified
        assert delivery.event["type"] == "job.succeeded"
        assert delivery.event["data"]["id"] == "t.job-1"
        assert delivery.event["data"]["result"] == {"answer": 42}
        assert delivery.headers["webhook-id"] == "msg_t.job-1"
        assert _sample(metrics, "longhaul_webhook_deliveries_total", outcome="delivered") == 1
        record = await resonate.promises.get(attempt_id("t.job-1", 1))
        assert record.state == "resolved" and record.param.data["status"] == 200
    finally:
        await deps.session.close()
        await resonate.stop()


async def test_a_canceled_job_is_notified_too(receiver: Receiver) -> None:
    resonate, deps, _ = await _stack()
    try:
        await _submit(resonate, "t.job-2", receiver.url)
        await asyncio.sleep(0.1)
        await resonate.promises.cancel("t.job-2", Value(data={"message": "canceled by client"}))
        await _settled(resonate, notify_id("t.job-2"))
        [delivery] = receiver.deliveries
        assert delivery.verified and delivery.event["type"] == "job.canceled"
        assert delivery.event["data"]["error"]["type"] == "Canceled"
    finally:
        await deps.session.close()
        await resonate.stop()


async def test_500_then_200_is_delivered_on_the_retry_with_the_same_id(receiver: Receiver) -> None:
    receiver.answers = [500, (503, {"Retry-After": "0"})]
    resonate, deps, metrics = await _stack()
    try:
        await _submit(resonate, "t.job-3", receiver.url)
        await resonate.promises.resolve("t.job-3", Value(data=1))
        summary = (await _settled(resonate, notify_id("t.job-3"))).value.data
        assert summary["state"] == "delivered" and summary["attempts"] == 3
        assert [d.verified for d in receiver.deliveries] == [True, True, True]
        assert len({d.headers["webhook-id"] for d in receiver.deliveries}) == 1
        assert len({d.body for d in receiver.deliveries}) == 1  # the same bytes every time
        assert _sample(metrics, "longhaul_webhook_attempts_total", result="5xx") == 2
    finally:
        await deps.session.close()
        await resonate.stop()


async def test_410_stops_at_once(receiver: Receiver) -> None:
    receiver.answers = [410]
    resonate, deps, _ = await _stack()
    try:
        await _submit(resonate, "t.job-4", receiver.url)
        await resonate.promises.reject("t.job-4", Value(data={"message": "boom"}))
        summary = (await _settled(resonate, notify_id("t.job-4"))).value.data
        assert summary["state"] == "gone" and summary["attempts"] == 1
        assert summary["last_status"] == 410
        await asyncio.sleep(0.3)
        assert len(receiver.deliveries) == 1
    finally:
        await deps.session.close()
        await resonate.stop()


async def test_redirects_are_not_followed_and_the_schedule_ends_in_failed(
    receiver: Receiver,
) -> None:
    elsewhere = f"http://127.0.0.1:{receiver.port}/elsewhere"
    receiver.answers = [(307, {"Location": elsewhere})] * 3
    resonate, deps, _ = await _stack()
    try:
        await _submit(resonate, "t.job-5", receiver.url)
        await resonate.promises.resolve("t.job-5", Value(data=1))
        summary = (await _settled(resonate, notify_id("t.job-5"))).value.data
        assert summary["state"] == "failed" and summary["attempts"] == 3
        assert summary["last_status"] == 307
        assert {d.path for d in receiver.deliveries} == {"/hook"}  # never /elsewhere
    finally:
        await deps.session.close()
        await resonate.stop()


async def test_a_refused_destination_is_never_contacted(receiver: Receiver) -> None:
    resonate, deps, metrics = await _stack(policy=NetworkPolicy())  # loopback not allowed
    try:
        await _submit(resonate, "t.job-6", receiver.url)
        await resonate.promises.resolve("t.job-6", Value(data=1))
        summary = (await _settled(resonate, notify_id("t.job-6"))).value.data
        assert summary["state"] == "failed" and summary["attempts"] == 1
        assert "refused" in summary["last_error"]
        assert receiver.deliveries == []
        assert _sample(metrics, "longhaul_webhook_attempts_total", result="refused") == 1
    finally:
        await deps.session.close()
        await resonate.stop()
