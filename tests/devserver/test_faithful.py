"""The dev server reproduces the real Resonate server v0.9.8 on the wire.

Each test names the real server's behaviour it pins and the v0.9.8 source file
it was read from (``resonatehq/resonate``, ``src/...``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.devserver.server import DevServer
from services.devserver.settings import DevServerSettings
from tests.devserver.wire_client import (
    Poller,
    call,
    call_raw,
    envelope,
    eventually,
    targeted,
)

pytestmark = pytest.mark.unit

ServerFactory = Callable[..., Any]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    servers: list[TestServer] = []

    async def make(**settings: Any) -> TestServer:
        settings.setdefault("tick_interval_s", 0.05)
        dev = DevServer(DevServerSettings(**settings))
        server = TestServer(dev.app())
        await server.start_server()
        server.dev = dev  # type: ignore[attr-defined]
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()


async def test_undelivered_execute_waits_for_the_retry_timer(make_server: ServerFactory) -> None:
    """A dropped ``execute`` is offered again only by the retry timer.

    Real server: src/processing/processing_messages.rs claims (deletes) the
    outgoing row and src/transport/transport_http_poll.rs drops it when no
    connection takes it; src/processing/processing_timeouts.rs re-offers the
    pending task once ``tasks.retry_timeout`` (src/config.rs, 30000 ms) passed.
    """
    server = await make_server(retry_timeout_ms=800)
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        await call(session, url, "promise.create", **targeted("early"))
        assert server.dev.dropped == 1
        started = asyncio.get_running_loop().time()
        poller = Poller(session, str(server.make_url("/poll/worker/late")))
        await eventually(lambda: server.dev.connections.size("worker") == 1)
        await asyncio.sleep(0.4)
        assert poller.messages == []  # connecting does not bring the offer back
        await eventually(lambda: len(poller.messages) == 1, timeout=2)
        assert asyncio.get_running_loop().time() - started >= 0.5
        assert poller.messages[0]["data"]["task"] == {"id": "early", "version": 0}
        await poller.close()


async def test_a_lost_pollers_offer_is_not_handed_to_another_member(
    make_server: ServerFactory,
) -> None:
    """An offer written to a connection that dies waits for the retry timer.

    Real server: src/transport/transport_http_poll.rs keeps no record of what
    it sent; only the retry timer (src/processing/processing_timeouts.rs)
    offers the task again, to any member then.
    """
    server = await make_server(retry_timeout_ms=1500)
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        doomed = Poller(session, str(server.make_url("/poll/worker/doomed")))
        await eventually(lambda: server.dev.connections.size("worker") == 1)
        await call(session, url, "promise.create", **targeted("unclaimed"))
        await eventually(lambda: len(doomed.messages) == 1)
        survivor = Poller(session, str(server.make_url("/poll/worker/survivor")))
        await eventually(lambda: server.dev.connections.size("worker") == 2)
        await doomed.close()  # dies without acquiring
        await eventually(lambda: server.dev.connections.size("worker") == 1)
        await asyncio.sleep(0.7)
        assert survivor.messages == []
        await eventually(lambda: len(survivor.messages) == 1, timeout=3)
        assert survivor.messages[0]["data"]["task"] == {"id": "unclaimed", "version": 0}
        await survivor.close()


async def test_connections_of_one_pid_are_appended(make_server: ServerFactory) -> None:
    """A second connection of the same (group, id) is added, not swapped in.

    Real server: ``PollRegistry::register`` in src/transport/transport_http_poll.rs
    pushes onto the group's list; a unicast goes to the first match.
    """
    server = await make_server()
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        first = Poller(session, str(server.make_url("/poll/clients/same")))
        await eventually(lambda: server.dev.connections.size("clients") == 1)
        second = Poller(session, str(server.make_url("/poll/clients/same")))
        await eventually(lambda: server.dev.connections.size("clients") == 2)
        await asyncio.sleep(0.1)
        assert not first.ended.is_set()  # the first stream stays open
        await call(session, url, "promise.create", id="u", timeoutAt=2**62, param={})
        await call(
            session,
            url,
            "promise.register_listener",
            awaited="u",
            address="poll://uni@clients/same",
        )
        await call(session, url, "promise.settle", id="u", state="resolved", value={})
        await eventually(lambda: len(first.messages) == 1)
        assert second.messages == []
        await first.close()
        await second.close()


async def test_each_connection_buffers_100_messages_and_drops_the_rest(
    make_server: ServerFactory,
) -> None:
    """Messages go into a 100-message buffer per connection with a non-blocking send.

    Real server: ``mpsc::channel(buffer_size)`` and ``try_send`` in
    src/transport/transport_http_poll.rs, ``http_poll.buffer_size`` = 100 in
    src/config.rs. One settle that notifies 150 listeners at once fills the buffer
    before the stream can write any of them.
    """
    server = await make_server()
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        poller = Poller(session, str(server.make_url("/poll/clients/one")))
        await eventually(lambda: server.dev.connections.size("clients") == 1)
        await call(session, url, "promise.create", id="wide", timeoutAt=2**62, param={})
        for i in range(150):
            # distinct addresses, all routed to the group's only connection
            await call(
                session,
                url,
                "promise.register_listener",
                awaited="wide",
                address=f"poll://any@clients/n{i}",
            )
        await call(session, url, "promise.settle", id="wide", state="resolved", value={})
        await eventually(lambda: len(poller.messages) == 100)
        await asyncio.sleep(0.2)
        assert len(poller.messages) == 100
        assert server.dev.dropped == 50
        await poller.close()


async def test_unblock_is_sent_once_best_effort(make_server: ServerFactory) -> None:
    """A listener's ``unblock`` is sent once; if no connection takes it, it is gone.

    Real server: the outgoing row is deleted when claimed, before the send
    (src/processing/processing_messages.rs); no timer covers unblocks.
    """
    server = await make_server(retry_timeout_ms=100)
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        await call(session, url, "promise.create", id="l", timeoutAt=2**62, param={})
        await call(
            session, url, "promise.register_listener", awaited="l", address="poll://uni@clients/x"
        )
        await call(session, url, "promise.settle", id="l", state="resolved", value={})
        assert server.dev.dropped == 1
        poller = Poller(session, str(server.make_url("/poll/clients/x")))
        await eventually(lambda: server.dev.connections.size("clients") == 1)
        # A listener registered on a settled promise is not stored: the answer is the state.
        late = await call(
            session, url, "promise.register_listener", awaited="l", address="poll://uni@clients/x"
        )
        assert late["data"]["promise"]["state"] == "resolved"
        await asyncio.sleep(0.5)  # several retry periods
        assert poller.messages == []
        await poller.close()


async def test_acquire_needs_the_offered_version(make_server: ServerFactory) -> None:
    """``task.acquire`` with another version than the task's is refused with 409.

    Real server: ``op_task_acquire`` in src/server.rs answers 409 "Version
    mismatch" when the pending task's version differs from the request's.
    """
    server = await make_server()
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        await call(session, url, "promise.create", **targeted("v"))
        status, stale = await call_raw(
            session, url, "task.acquire", id="v", version=3, pid="p", ttl=60_000
        )
        assert (status, stale["head"]["status"]) == (409, 409)
        assert server.dev.state._state.tasks["v"].state == "pending"
        status, ok = await call_raw(
            session, url, "task.acquire", id="v", version=0, pid="p", ttl=60_000
        )
        assert (status, ok["head"]["status"]) == (200, 200)


async def test_http_status_equals_the_envelopes(make_server: ServerFactory) -> None:
    """The HTTP status of ``POST /`` is the envelope's head status.

    Real server: ``into_response`` in src/server.rs maps ``head.status`` to the
    HTTP status code.
    """
    server = await make_server()
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        for kind, data, expected in [
            ("promise.create", {"id": "s", "timeoutAt": 2**62, "param": {}}, 201),
            ("promise.create", {"id": "s", "timeoutAt": 2**62, "param": {}}, 200),
            ("promise.get", {"id": "missing"}, 404),
            ("promise.get", {}, 400),
            ("task.release", {"id": "missing", "version": 0}, 404),
        ]:
            status, body = await call_raw(session, url, kind, **data)
            assert (status, body["head"]["status"]) == (expected, expected), kind
        async with session.post(url, data=b"{not json") as bad:
            assert bad.status == 400 and (await bad.json())["head"]["status"] == 400


@pytest.mark.parametrize("version", ["2025-01-01", "", None])
async def test_only_protocol_version_2026_04_01(make_server: ServerFactory, version: Any) -> None:
    """Any other ``head.version`` (or none) is refused with 400 and nothing is applied.

    Real server: ``handle_api`` in src/server.rs checks ``SUPPORTED_VERSIONS``
    (only "2026-04-01") before dispatching.
    """
    server = await make_server()
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        body = envelope("promise.create", protocol=version, id="old", timeoutAt=2**62, param={})
        async with session.post(url, json=body) as response:
            answer = await response.json()
            assert response.status == 400 and answer["head"]["status"] == 400
            assert "Unsupported protocol version" in answer["data"]["error"]
        got = await call(session, url, "promise.get", id="old")
        assert got["head"]["status"] == 404


async def test_create_on_an_existing_id_answers_200_with_the_stored_promise(
    make_server: ServerFactory,
) -> None:
    """A second create of an id changes nothing and returns the first promise, tags whole.

    Real server: ``op_promise_create`` in src/server.rs inserts with
    ``ON CONFLICT DO NOTHING`` and answers the stored row.
    """
    server = await make_server()
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        first = {"id": "k", "timeoutAt": 2**62, "param": {"a": 1}, "tags": {"fp": "one"}}
        status, created = await call_raw(session, url, "promise.create", **first)
        assert status == 201
        second = {"id": "k", "timeoutAt": 2**61, "param": {"a": 2}, "tags": {"fp": "two"}}
        status, again = await call_raw(session, url, "promise.create", **second)
        assert status == 200
        assert again["data"]["promise"] == created["data"]["promise"]
        assert again["data"]["promise"]["tags"] == {"fp": "one"}


async def test_create_race_route_creates_but_answers_500(make_server: ServerFactory) -> None:
    """``/test/create-race``: the next create of the id answers like the race's loser.

    Real server: two concurrent creates of one id under READ COMMITTED (no
    retry) can answer 500 to one of them while the other's promise exists
    (src/persistence/persistence_postgres.rs, ``op_promise_create`` in src/server.rs
    maps a storage error to 500 "Internal error").
    """
    server = await make_server(test_routes=True)
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/test/create-race"), params={"id": "r"}) as arm:
            assert arm.status == 200
        status, lost = await call_raw(session, url, "promise.create", **targeted("r"))
        assert (status, lost["head"]["status"]) == (500, 500)
        got = await call(session, url, "promise.get", id="r")
        assert got["head"]["status"] == 200 and got["data"]["promise"]["state"] == "pending"
        status, _ = await call_raw(session, url, "promise.create", **targeted("r"))
        assert status == 200  # one-shot: the retry sees the stored promise


async def test_close_streams_route_ends_matching_streams_at_once(
    make_server: ServerFactory,
) -> None:
    """``/test/close-streams`` ends streams from the server side (as a restart would)."""
    server = await make_server(test_routes=True)
    async with aiohttp.ClientSession() as session:
        a = Poller(session, str(server.make_url("/poll/worker/a")))
        b = Poller(session, str(server.make_url("/poll/worker/b")))
        await eventually(lambda: server.dev.connections.size("worker") == 2)
        close = server.make_url("/test/close-streams")
        async with session.post(close, params={"group": "worker", "pid": "a"}) as response:
            assert await response.json() == {"closed": 1}
        assert server.dev.connections.size("worker") == 1
        await asyncio.wait_for(a.ended.wait(), 1)
        assert not b.ended.is_set()
        async with session.post(close, params={"group": "worker"}) as response:
            assert await response.json() == {"closed": 1}
        await asyncio.wait_for(b.ended.wait(), 1)


async def test_test_routes_are_off_by_default(make_server: ServerFactory) -> None:
    server = await make_server()
    async with aiohttp.ClientSession() as session:
        for route in ("/test/create-race?id=x", "/test/close-streams?group=g"):
            async with session.post(server.make_url(route)) as response:
                assert response.status == 404


async def test_sse_connections_past_the_limit_get_503(make_server: ServerFactory) -> None:
    """Past ``http_poll.max_connections`` (1000) a poll is refused with 503.

    Real server: ``PollRegistry::register`` returns None at the limit and
    ``handle_poll`` in src/server.rs answers 503 "Poll registration at capacity".
    The limit is lowered here so the test does not open 1000 streams.
    """
    server = await make_server()
    server.dev.connections.max_connections = 3
    async with aiohttp.ClientSession() as session:
        pollers = [Poller(session, str(server.make_url(f"/poll/worker/p{i}"))) for i in range(3)]
        await eventually(lambda: server.dev.connections.total() == 3)
        async with session.get(server.make_url("/poll/worker/extra")) as refused:
            assert refused.status == 503
            assert await refused.text() == "Poll registration at capacity"
        await pollers[0].close()
        await eventually(lambda: server.dev.connections.total() == 2)
        again = Poller(session, str(server.make_url("/poll/worker/extra")))
        await eventually(lambda: server.dev.connections.total() == 3)
        for poller in (*pollers, again):
            await poller.close()


async def test_no_keepalive_frames_unless_configured(make_server: ServerFactory) -> None:
    """The stream carries only messages: no comment or keep-alive frames.

    Real server: ``handle_poll`` in src/server.rs builds ``Sse::new(stream)``
    without ``keep_alive``. ``LONGHAUL_DEVSERVER_KEEPALIVE_S`` turns them on.
    """
    quiet = await make_server()
    chatty = await make_server(keepalive_s=0.1)
    async with aiohttp.ClientSession() as session:
        silent = Poller(session, str(quiet.make_url("/poll/worker/a")))
        talking = Poller(session, str(chatty.make_url("/poll/worker/a")))
        await eventually(lambda: quiet.dev.connections.size("worker") == 1)
        await asyncio.sleep(0.6)
        assert silent.status == 200 and bytes(silent.raw) == b""
        assert b": keepalive" in talking.raw
        await silent.close()
        await talking.close()


async def test_a_dead_poller_is_noticed_without_keepalives(make_server: ServerFactory) -> None:
    """A closed client socket leaves the registry with no keep-alive to find it."""
    server = await make_server()
    async with aiohttp.ClientSession() as session:
        poller = Poller(session, str(server.make_url("/poll/worker/gone")))
        await eventually(lambda: server.dev.connections.size("worker") == 1)
    await poller.close()
    await eventually(lambda: server.dev.connections.size("worker") == 0, timeout=2)


async def test_ready_reports_pollers_counts_and_storage(make_server: ServerFactory) -> None:
    server = await make_server()
    async with aiohttp.ClientSession() as session:
        poller = Poller(session, str(server.make_url("/poll/worker/a")))
        await eventually(lambda: server.dev.connections.size("worker") == 1)
        async with session.get(server.make_url("/ready")) as ready:
            body = await ready.json()
        assert body["pollers"] == {"worker": 1}
        assert body["storage_mode"] == "memory" and body["storage_path"] is None
        assert {"promises", "tasks"} <= body.keys()
        await poller.close()
