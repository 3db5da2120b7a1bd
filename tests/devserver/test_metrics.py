"""The dev server exports the real server's request metrics (v0.9.8 ``src/metrics.rs``).

A benchmark counts what each client action costs the server from
``resonate_request_total``; these tests pin that the counter says what the
server answered, by kind and status, and nothing a client can inflate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from services.devserver.server import DevServer
from services.devserver.settings import DevServerSettings
from tests.devserver.wire_client import Poller, call, call_raw, eventually, targeted

pytestmark = pytest.mark.unit


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    dev = DevServer(DevServerSettings(tick_interval_s=0.05))
    test_server = TestServer(dev.app())
    await test_server.start_server()
    yield test_server
    await test_server.close()


async def scrape(session: aiohttp.ClientSession, server: TestServer) -> dict[str, Any]:
    async with session.get(server.make_url("/metrics")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    samples: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = sample.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_are_counted_by_kind_and_answered_status(server: TestServer) -> None:
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        await call(session, url, "promise.create", **targeted("m-1"))  # 201
        await call(session, url, "promise.create", **targeted("m-1"))  # 200: the stored one
        await call(session, url, "promise.get", id="m-1")
        status, _ = await call_raw(session, url, "promise.get", id="missing")
        assert status == 404
        samples = await scrape(session, server)

    total = "resonate_request_total"
    assert value(samples, total, kind="promise.create", status="201") == 1
    assert value(samples, total, kind="promise.create", status="200") == 1
    assert value(samples, total, kind="promise.get", status="200") == 1
    assert value(samples, total, kind="promise.get", status="404") == 1
    count = "resonate_request_duration_seconds_count"
    assert value(samples, count, kind="promise.create") == 2
    assert value(samples, count, kind="promise.get") == 2
    # The Rust prometheus crate's default buckets, as the real server has them.
    buckets = sorted(
        float(dict(labels)["le"])
        for (name, labels) in samples
        if name == "resonate_request_duration_seconds_bucket"
        and dict(labels)["kind"] == "promise.get"
    )
    assert buckets[:-1] == [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


async def test_refused_envelopes_are_counted_and_kinds_cannot_be_invented(
    server: TestServer,
) -> None:
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=b"{not json") as response:
            assert response.status == 400
        for i in range(5):
            status, _ = await call_raw(session, url, f"made.up.{i}", id="x")
            assert status == 400
        samples = await scrape(session, server)

    assert value(samples, "resonate_request_total", kind="unknown", status="400") == 6
    kinds = {dict(labels).get("kind") for (name, labels) in samples}
    assert not any(str(k).startswith("made.up") for k in kinds)


async def test_messages_are_counted_when_dispatched_delivered_or_not(server: TestServer) -> None:
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        poller = Poller(session, str(server.make_url("/poll/worker/w1")))
        await eventually(lambda: server.app is not None and poller.status == 200)
        await call(session, url, "promise.create", **targeted("m-exec"))
        await eventually(lambda: len(poller.messages) == 1)
        # No connection for this group: dispatched and dropped, still counted.
        await call(session, url, "promise.create", **targeted("m-lost", "poll://any@nobody"))
        samples = await scrape(session, server)
        await poller.close()

    assert value(samples, "resonate_messages_total", kind="execute") == 2
