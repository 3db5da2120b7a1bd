"""The dev server's wire behaviour: envelopes, SSE delivery, group routing, leases (auth:
test_auth.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.devserver.server import DevServer
from services.devserver.settings import DevServerSettings
from tests.devserver.wire_client import Poller, call, eventually, targeted

pytestmark = pytest.mark.unit


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    dev = DevServer(DevServerSettings(tick_interval_s=0.05, keepalive_s=0.2))
    test_server = TestServer(dev.app())
    await test_server.start_server()
    test_server.dev = dev  # type: ignore[attr-defined]
    yield test_server
    await test_server.close()


async def test_promise_create_get_and_404(server: TestServer) -> None:
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        created = await call(session, url, "promise.create", id="p1", timeoutAt=2**62, param={})
        assert created["head"]["status"] == 201
        assert created["data"]["promise"]["state"] == "pending"
        again = await call(session, url, "promise.create", id="p1", timeoutAt=2**62, param={})
        assert again["head"]["status"] == 200
        got = await call(session, url, "promise.get", id="p1")
        assert got["head"]["corrId"] and got["data"]["promise"]["id"] == "p1"
        missing = await call(session, url, "promise.get", id="nope")
        assert missing["head"]["status"] == 404


async def test_bad_requests_get_error_envelopes(server: TestServer) -> None:
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=b"{not json") as response:
            assert response.status == 400
            assert (await response.json())["head"]["status"] == 400
        unknown = await call(session, url, "promise.teleport", id="x")
        assert unknown["head"]["status"] == 400
        missing_id = await call(session, url, "promise.get")
        assert missing_id["head"]["status"] == 400


async def test_anycast_execute_reaches_exactly_one_member(server: TestServer) -> None:
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        a = Poller(session, str(server.make_url("/poll/worker/a")))
        b = Poller(session, str(server.make_url("/poll/worker/b")))
        other = Poller(session, str(server.make_url("/poll/other/c")))
        await eventually(lambda: server.dev.connections.size("worker") == 2)
        for i in range(40):
            await call(session, url, "promise.create", **targeted(f"job{i}"))
        await eventually(lambda: len(a.messages) + len(b.messages) == 40)
        await asyncio.sleep(0.1)
        assert len(a.messages) + len(b.messages) == 40
        assert a.messages and b.messages  # spread over the group (at random: 2**-39 to fail)
        assert other.messages == []
        assert all(m["kind"] == "execute" for m in a.messages + b.messages)
        for poller in (a, b, other):
            await poller.close()


async def test_unicast_unblock_reaches_only_its_listener(server: TestServer) -> None:
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        a = Poller(session, str(server.make_url("/poll/clients/a")))
        b = Poller(session, str(server.make_url("/poll/clients/b")))
        await eventually(lambda: server.dev.connections.size("clients") == 2)
        await call(session, url, "promise.create", id="u1", timeoutAt=2**62, param={})
        await call(
            session, url, "promise.register_listener", awaited="u1", address="poll://uni@clients/b"
        )
        await call(session, url, "promise.settle", id="u1", state="resolved", value={})
        await eventually(lambda: len(b.messages) == 1)
        assert b.messages[0]["kind"] == "unblock"
        assert b.messages[0]["data"]["promise"]["state"] == "resolved"
        assert a.messages == []
        await a.close()
        await b.close()


async def test_expired_lease_is_redelivered_to_the_group(server: TestServer) -> None:
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        poller = Poller(session, str(server.make_url("/poll/worker/a")))
        await eventually(lambda: server.dev.connections.size("worker") == 1)
        await call(session, url, "promise.create", **targeted("leased"))
        await eventually(lambda: len(poller.messages) == 1)
        acquired = await call(
            session, url, "task.acquire", id="leased", version=0, pid="a", ttl=200
        )
        assert acquired["head"]["status"] == 200
        # No heartbeat: after the lease the task comes back, one version later.
        await eventually(lambda: len(poller.messages) == 2, timeout=3)
        assert poller.messages[1]["data"]["task"] == {"id": "leased", "version": 1}
        await poller.close()


async def test_message_for_a_group_with_no_poller_is_dropped_then_retried(
    server: TestServer,
) -> None:
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        await call(session, url, "promise.create", **targeted("early"))
        assert server.dev.dropped == 1
        task = server.dev.state._state.tasks["early"]
        assert task.state == "pending"


async def test_health_and_ready(server: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.make_url("/health")) as health:
            assert health.status == 200
        async with session.get(server.make_url("/ready")) as ready:
            body = await ready.json()
            assert body["status"] == "ready" and "memory" in body["storage"]
