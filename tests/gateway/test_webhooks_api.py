"""POST /v1/jobs with notify, and the job view's notification (in-process stack)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from resonate.error import ResonateError

from services.common.webhook_networks import NetworkPolicy, parse_networks
from services.contract.notify import MAX_URL_LENGTH, Notification, notify_id
from services.gateway.auth.tenancy import DEFAULT_TENANT, job_id_for_key
from services.gateway.jobs.job_store import Job, JobStore
from services.gateway.settings import GatewaySettings
from services.worker.jobs import register_jobs
from services.worker.notify.guard import guarded_session
from services.worker.notify.metrics import WebhookMetrics
from services.worker.notify.notifier import NotifyDeps, register_notifier
from services.worker.notify.signing import Signer
from tests.support import (
    catalogue,
    create_app,
    gateway_settings,
    running,
    searchable_local_resonate,
    worker_deps,
)
from tests.webhook_receiver import TEST_SECRET, Receiver

pytestmark = pytest.mark.unit


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    receiver: Receiver

    @property
    def store(self) -> JobStore:
        return self.app.state.store

    async def submit(self, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return await self.client.post("/v1/jobs", json=body, headers=headers)

    async def view_when(self, job_id: str, state: str, timeout_s: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                body = (await self.client.get(f"/v1/jobs/{job_id}")).json()
                if body.get("notification", {}).get("state") == state:
                    return body
                await asyncio.sleep(0.05)


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    receiver = await Receiver().start()
    kinds = catalogue()
    sessions = []

    def factory(_settings: GatewaySettings):
        # The dev server's state machine under the SDK's local client: it answers
        # promise.search too (the job list).
        resonate = searchable_local_resonate(ttl=timedelta(seconds=600))
        register_jobs(resonate, worker_deps(), kinds)
        policy = NetworkPolicy(parse_networks(["127.0.0.0/8"]))
        session = guarded_session(policy)
        sessions.append(session)
        register_notifier(
            resonate,
            NotifyDeps(
                promises=resonate.promises,
                session=session,
                policy=policy,
                signer=Signer.from_secrets([TEST_SECRET]),
                metrics=WebhookMetrics(worker_deps().metrics.registry),
                delays_s=(0.05,),
                jitter=0.0,
                attempt_timeout_s=2,
                max_retry_after_s=0.1,
                max_event_bytes=4096,
            ),
        )
        return resonate

    settings = gateway_settings(webhook_allowed_networks="127.0.0.0/8")
    app = create_app(settings, resonate_factory=factory, catalogue=kinds)
    async with running(app) as client:
        yield Stack(app, client, receiver)
    for session in sessions:
        await session.close()
    await receiver.stop()


async def test_a_job_with_notify_is_delivered_and_the_view_shows_it(stack: Stack) -> None:
    response = await stack.submit(
        {"kind": "echo", "input": {"x": 1}, "notify": {"url": stack.receiver.url}}
    )
    assert response.status_code == 202
    job_id = response.json()["id"]
    view = await stack.view_when(job_id, "delivered")
    note = view["notification"]
    assert note["url"] == stack.receiver.url
    assert note["attempts"] == 1 and note["last_status"] == 200
    assert note["delivered_at"] is not None
    [delivery] = stack.receiver.deliveries
    assert delivery.verified
    # The event's data is the job view, field for field (the view adds notification).
    assert delivery.event["data"] == {k: v for k, v in view.items() if k != "notification"}
    assert delivery.event["type"] == "job.succeeded"
    assert delivery.event["timestamp"] == view["completed_at"]


async def test_a_replayed_submit_creates_no_second_notification(stack: Stack) -> None:
    body = {"kind": "echo", "input": {"x": 2}, "notify": {"url": stack.receiver.url}}
    first = await stack.submit(body, key="k-replay")
    job_id = first.json()["id"]
    await stack.view_when(job_id, "delivered")
    again = await stack.submit(body, key="k-replay")
    assert again.status_code == 202 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == job_id
    await asyncio.sleep(0.3)
    assert len(stack.receiver.for_job(job_id)) == 1


async def test_same_key_with_another_url_is_a_conflict(stack: Stack) -> None:
    body = {"kind": "echo", "input": {"x": 3}, "notify": {"url": stack.receiver.url}}
    assert (await stack.submit(body, key="k-url")).status_code == 202
    other = {**body, "notify": {"url": stack.receiver.url + "/other"}}
    response = await stack.submit(other, key="k-url")
    assert response.status_code == 422
    assert response.json()["type"].endswith("idempotency-key-reused")
    without = {"kind": "echo", "input": {"x": 3}}
    assert (await stack.submit(without, key="k-url")).status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "http:///no-host",
        "https://user:pw@example.com/hook",
        "https://example.com/" + "a" * MAX_URL_LENGTH,
        "https://exa mple.com/",
        "example.com/hook",
        "https://example.com:0/",
    ],
)
async def test_bad_urls_are_422_with_the_field(stack: Stack, url: str) -> None:
    response = await stack.submit({"kind": "echo", "input": {}, "notify": {"url": url}})
    assert response.status_code == 422, url
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(e["loc"][:3] == ["body", "notify", "url"] for e in response.json()["errors"])


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::1]:8080/",
        "http://[::ffff:192.168.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
async def test_a_literal_ip_that_is_not_allowed_is_refused_at_submit(
    stack: Stack, url: str
) -> None:
    response = await stack.submit({"kind": "echo", "input": {}, "notify": {"url": url}})
    assert response.status_code == 422, url
    body = response.json()
    assert body["type"].endswith("invalid-notify-url")
    assert body["errors"][0]["loc"] == ["body", "notify", "url"]


async def test_an_allowlisted_literal_ip_is_accepted(stack: Stack) -> None:
    # 127.0.0.0/8 is allowlisted by the fixture; the receiver's URL is a literal IP.
    response = await stack.submit(
        {"kind": "echo", "input": {}, "notify": {"url": stack.receiver.url}}
    )
    assert response.status_code == 202


async def test_a_job_without_notify_costs_no_extra_read(stack: Stack, monkeypatch) -> None:
    response = await stack.submit({"kind": "echo", "input": {"x": 4}})
    job_id = response.json()["id"]
    reads: list[str] = []
    original = stack.store._sender.promise_get

    async def counting(promise_id: str):
        reads.append(promise_id)
        return await original(promise_id)

    monkeypatch.setattr(stack.store._sender, "promise_get", counting)
    view = (await stack.client.get(f"/v1/jobs/{job_id}")).json()
    assert "notification" not in view
    assert reads == [job_id]


async def test_the_job_list_shows_the_notification_as_a_single_read_does(stack: Stack) -> None:
    response = await stack.submit(
        {"kind": "echo", "input": {"x": 6}, "notify": {"url": stack.receiver.url}}
    )
    job_id = response.json()["id"]
    await stack.view_when(job_id, "delivered")
    single = (await stack.client.get(f"/v1/jobs/{job_id}")).json()
    page = (await stack.client.get("/v1/jobs", params={"kind": "echo", "limit": 1000})).json()
    (listed,) = [job for job in page["jobs"] if job["id"] == job_id]
    assert listed["notification"]["state"] == "delivered"
    assert listed == single


async def test_a_delivered_notification_costs_one_extra_read(stack: Stack, monkeypatch) -> None:
    response = await stack.submit(
        {"kind": "echo", "input": {"x": 5}, "notify": {"url": stack.receiver.url}}
    )
    job_id = response.json()["id"]
    await stack.view_when(job_id, "delivered")
    reads: list[str] = []
    original = stack.store._sender.promise_get

    async def counting(promise_id: str):
        reads.append(promise_id)
        return await original(promise_id)

    monkeypatch.setattr(stack.store._sender, "promise_get", counting)
    job = await stack.store.get(job_id)
    assert reads == [job_id, notify_id(job_id)]
    assert job.terminal and job.final
    # Final, so the gateway's finished-view cache answers the next reads with none.
    reads.clear()
    answer = await stack.client.get(f"/v1/jobs/{job_id}")
    assert answer.json()["notification"]["state"] == "delivered"
    assert reads == []


async def test_a_failed_notifier_create_is_503_and_the_keyed_retry_repairs_it(
    stack: Stack, monkeypatch
) -> None:
    promises = stack.store._promises
    original = promises.create

    async def failing(promise_id: str, *args: Any, **kwargs: Any):
        if promise_id.endswith(".notify"):
            raise ResonateError("injected: the server went away")
        return await original(promise_id, *args, **kwargs)

    body = {"kind": "sleep", "input": {"seconds": 0.3}, "notify": {"url": stack.receiver.url}}
    monkeypatch.setattr(promises, "create", failing)
    refused = await stack.submit(body, key="k-repair")
    assert refused.status_code == 503
    monkeypatch.setattr(promises, "create", original)
    accepted = await stack.submit(body, key="k-repair")
    assert accepted.status_code == 202
    job_id = accepted.json()["id"]
    view = await stack.view_when(job_id, "delivered")
    assert view["status"] == "succeeded"
    assert len(stack.receiver.for_job(job_id)) == 1


async def test_a_job_whose_notifier_was_never_created_says_missing(
    stack: Stack, monkeypatch
) -> None:
    promises = stack.store._promises
    original = promises.create

    async def failing(promise_id: str, *args: Any, **kwargs: Any):
        if promise_id.endswith(".notify"):
            raise ResonateError("injected")
        return await original(promise_id, *args, **kwargs)

    monkeypatch.setattr(promises, "create", failing)
    body = {"kind": "echo", "input": {"x": 6}, "notify": {"url": stack.receiver.url}}
    assert (await stack.submit(body, key="k-missing")).status_code == 503
    monkeypatch.setattr(promises, "create", original)
    # Without the keyed retry the job still runs: its view says no notifier exists.
    job_id = job_id_for_key(stack.app.state.settings.id_key, DEFAULT_TENANT, "k-missing")
    view = await stack.view_when(job_id, "missing")
    assert view["status"] == "succeeded"
    assert stack.receiver.deliveries == []
    assert (await stack.store.get(job_id)).final  # nothing more will happen to it


def test_a_terminal_job_is_final_only_once_its_notification_settled() -> None:
    base = Job(
        id="t.job-x",
        kind="echo",
        status="succeeded",
        state="resolved",
        result=1,
        error=None,
        created_ms=1,
        completed_ms=2,
        fingerprint=None,
    )
    assert base.final  # no notify: final as soon as terminal
    url = "https://example.com/h"
    for state, final in (("pending", False), ("retrying", False), ("delivered", True)):
        job = dataclasses.replace(base, notification=Notification(url=url, state=state))
        assert job.final is final, state
    pending = dataclasses.replace(base, status="pending", state="pending", completed_ms=None)
    assert not pending.final
