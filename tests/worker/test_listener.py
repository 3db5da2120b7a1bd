"""The worker's SSE listener keeps listening, whatever happens to its stream.

Wire-level: a small aiohttp server plays the Resonate server's ``GET /poll``
endpoint, so the tests can close the stream from the server side, answer
non-2xx, stop the server and start it again on the same port, and hold a
stream open past a client-side timeout. aiohttp's default 300 s total timeout
is shrunk to 0.5 s (it is a module global read when a session is created), so
the SDK's defect shows in a second instead of five minutes; the soak test
(``tests/soak``) crosses the real 300 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import aiohttp
import aiohttp.client
import pytest
from aiohttp import web
from resonate.connections import SSEConnection

from services.common.stream_status import ListenerStatus
from services.stack.processes import free_port
from services.worker.sdk.connections import MAX_CRASHES, SupervisedSSE, apply_token

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

#: The reconnect bound these tests hold the listener to (the setting's value here).
RECONNECT_MAX_S = 0.2
#: Scheduling slack on a loaded 2-core machine.
SLACK_S = 0.5


class PollServer:
    """``GET /poll/{group}/{pid}``: streams what ``send`` is given; closes, refuses, restarts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.connects: list[float] = []
        self.authorizations: list[str | None] = []
        self.refuse_with: list[int] = []
        self._streams: list[asyncio.Queue[str | None]] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/poll/{group}/{pid}", self._poll)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        for queue in self._streams:
            queue.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _poll(self, request: web.Request) -> web.StreamResponse:
        self.connects.append(time.monotonic())
        self.authorizations.append(request.headers.get("Authorization"))
        if self.refuse_with:
            return web.Response(status=self.refuse_with.pop(0))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._streams.append(queue)
        try:
            while (item := await queue.get()) is not None:
                await response.write(f"data: {item}\n\n".encode())
        finally:
            self._streams.remove(queue)
        return response

    def send(self, data: str) -> None:
        for queue in self._streams:
            queue.put_nowait(data)

    def close_streams(self) -> None:
        """The server ends every open stream (as the real one does when it shuts down)."""
        for queue in self._streams:
            queue.put_nowait(None)

    @property
    def open_streams(self) -> int:
        return len(self._streams)


async def until(predicate: Callable[[], bool], within: float = 5.0) -> float:
    """Wait for ``predicate()``; return how long it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > within:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def short_aiohttp_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's default ClientTimeout(total=300), shrunk to half a second."""
    monkeypatch.setattr(aiohttp.client, "DEFAULT_TIMEOUT", aiohttp.ClientTimeout(total=0.5))


@pytest.fixture
async def server() -> AsyncIterator[PollServer]:
    poll = PollServer(free_port())
    await poll.start()
    yield poll
    await poll.stop()


def supervised(server: PollServer, status: ListenerStatus) -> SupervisedSSE:
    return SupervisedSSE(
        server.url,
        pid="w1",
        group="worker",
        auth=None,
        status=status,
        connect_timeout_s=1.0,
        tcp_keepalive_s=5,
        reconnect_max_s=RECONNECT_MAX_S,
    )


@pytest.mark.usefixtures("short_aiohttp_default")
async def test_the_sdk_listener_goes_deaf_when_aiohttp_times_out(server: PollServer) -> None:
    """The defect, pinned: resonate-sdk 0.8.1's SSE loop ends for good on a client timeout.

    When this fails, the SDK has changed (fixed, one hopes): revisit SupervisedSSE.
    """
    source = SSEConnection(server.url, pid="w1", group="worker")
    await source.start()
    try:
        await until(lambda: source._sse_handle is not None and source._sse_handle.done())
        assert isinstance(source._sse_handle.exception(), TimeoutError)
        await asyncio.sleep(RECONNECT_MAX_S + SLACK_S)
        assert len(server.connects) == 1, "the SDK listener never reconnects"
    finally:
        # Its stop() would re-raise the task's TimeoutError: the task is done already.
        source._sse_handle = None
        await source.stop()


@pytest.mark.usefixtures("short_aiohttp_default")
async def test_our_listener_holds_an_idle_stream_past_the_client_timeout(
    server: PollServer,
) -> None:
    status = ListenerStatus()
    received: list[str] = []
    source = supervised(server, status)
    source.recv(received.append)
    await source.start()
    try:
        await until(lambda: status.is_connected)
        await asyncio.sleep(1.5)  # three times the (shrunk) default total timeout
        assert status.is_connected and status.is_alive
        assert len(server.connects) == 1, "the stream was never dropped"
        server.send('{"kind":"execute"}')
        await until(lambda: received == ['{"kind":"execute"}'])
    finally:
        await source.stop()
    assert status.state == "stopped" and status.is_alive


async def test_a_stream_the_server_closes_is_reopened_within_the_bound(
    server: PollServer,
) -> None:
    status = ListenerStatus()
    received: list[str] = []
    source = supervised(server, status)
    source.recv(received.append)
    await source.start()
    try:
        for round_ in range(3):
            await until(lambda: server.open_streams == 1)
            server.close_streams()
            closed_at = time.monotonic()
            await until(lambda n=round_: len(server.connects) == n + 2)
            assert server.connects[-1] - closed_at < RECONNECT_MAX_S + SLACK_S
        await until(lambda: status.is_connected and server.open_streams == 1)
        assert status.reconnects["closed"] == 3
        server.send("after")
        await until(lambda: received == ["after"])
    finally:
        await source.stop()


async def test_a_restarted_server_is_found_again_within_the_bound(server: PollServer) -> None:
    status = ListenerStatus()
    source = supervised(server, status)
    await source.start()
    try:
        await until(lambda: status.is_connected)
        await server.stop()  # connections reset, then refused
        await until(lambda: status.state == "reconnecting")
        await asyncio.sleep(1.5)  # a few refused attempts: the ladder reaches its cap
        assert status.is_alive and not status.is_connected
        assert status.reconnects["connect"] >= 3
        assert "reconnecting" in (status.not_ready_reason() or "")
        await server.start()
        took = await until(lambda: status.is_connected)
        assert took < RECONNECT_MAX_S + SLACK_S
    finally:
        await source.stop()


async def test_non_2xx_answers_are_retried(server: PollServer) -> None:
    """The real server answers 503 past 1000 connections and 401 on a bad token."""
    server.refuse_with = [503, 503, 401]
    status = ListenerStatus()
    source = supervised(server, status)
    await source.start()
    try:
        await until(lambda: status.is_connected)
        assert status.reconnects["status"] == 3
        assert len(server.connects) == 4
    finally:
        await source.stop()


async def test_a_handler_that_raises_loses_its_message_not_the_stream(
    server: PollServer,
) -> None:
    status = ListenerStatus()
    received: list[str] = []

    def handler(data: str) -> None:
        if data == "bad":
            raise ValueError("cannot decode")
        received.append(data)

    source = supervised(server, status)
    source.recv(handler)
    await source.start()
    try:
        await until(lambda: status.is_connected)
        server.send("bad")
        server.send("good")
        await until(lambda: received == ["good"])
        assert len(server.connects) == 1 and status.is_connected
    finally:
        await source.stop()


async def test_a_loop_that_keeps_escaping_is_restarted_then_declared_dead(
    server: PollServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    status = ListenerStatus()
    source = supervised(server, status)
    runs: list[int] = []

    async def broken_loop() -> None:
        runs.append(1)
        raise RuntimeError("a bug in the loop")

    monkeypatch.setattr(source, "_sse_loop", broken_loop)
    await source.start()
    try:
        await until(lambda: status.state == "dead")
        assert len(runs) == MAX_CRASHES + 1
        assert not status.is_alive
        assert "a bug in the loop" in (status.not_live_reason() or "")
    finally:
        await source.stop()


async def test_a_reconnect_presents_the_renewed_token(server: PollServer) -> None:
    """A token renewed while the stream is open is the one the next connect sends.

    Fails on the old loop, which built its headers once, before its first connect:
    after the first token expired the worker could never reconnect.
    """
    status = ListenerStatus()
    source = SupervisedSSE(
        server.url,
        pid="w1",
        group="worker",
        auth="old",
        status=status,
        connect_timeout_s=1.0,
        tcp_keepalive_s=5,
        reconnect_max_s=RECONNECT_MAX_S,
    )
    sdk = SimpleNamespace(_sender=SimpleNamespace(auth="old"), _network=None, _source=source)
    await source.start()
    try:
        await until(lambda: status.is_connected)
        apply_token(sdk, "new")  # type: ignore[arg-type]
        server.close_streams()
        await until(lambda: len(server.authorizations) >= 2 and status.is_connected)
        assert server.authorizations[:2] == ["Bearer old", "Bearer new"]
        assert sdk._sender.auth == "new"
    finally:
        await source.stop()
