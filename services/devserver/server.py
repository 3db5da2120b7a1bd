"""An HTTP + SSE front speaking the Resonate wire protocol over the reference state.

``POST /`` takes request envelopes; ``GET /poll/{group}/{pid}`` is a worker's
SSE stream of ``execute`` and ``unblock`` messages. State is in memory: this is
a development stand-in for the Resonate server, not a replacement for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
from aiohttp import web
from resonate.timing import now_ms

from services.devserver.reference_state import (
    PROTOCOL_VERSION,
    Outgoing,
    ReferenceState,
    error_envelope,
)
from services.devserver.routing import ConnectionRegistry, parse_address
from services.devserver.settings import DevServerSettings

log = structlog.get_logger("longhaul.devserver")


#: How many unclaimed offers a connection remembers for redelivery.
MAX_OFFERS = 10_000
#: How often a waiting stream checks that its client is still there.
LIVENESS_CHECK_S = 0.25


@dataclass(eq=False)
class PollConnection:
    group: str
    pid: str
    queue: asyncio.Queue[Outgoing] = field(default_factory=asyncio.Queue)
    closed: bool = False
    #: ``execute`` messages written to this stream, by task: if the process dies
    #: before acquiring them, they go to another member instead of waiting out
    #: the state machine's 30 s retry.
    offered: dict[str, Outgoing] = field(default_factory=dict)

    def remember(self, message: Outgoing) -> None:
        if message.task_id is None or message.version is None:
            return
        self.offered.pop(message.task_id, None)
        self.offered[message.task_id] = message
        if len(self.offered) > MAX_OFFERS:
            self.offered.pop(next(iter(self.offered)))


class DevServer:
    def __init__(self, settings: DevServerSettings, clock: Any = now_ms) -> None:
        self.settings = settings
        self.state = ReferenceState()
        self.connections: ConnectionRegistry[PollConnection] = ConnectionRegistry()
        self._clock = clock
        self._token = settings.token.get_secret_value() if settings.token else None
        self.delivered = 0
        self.dropped = 0

    # ── delivery ──────────────────────────────────────────────────────────

    def deliver(self, messages: list[Outgoing]) -> None:
        for message in messages:
            address = parse_address(message.address)
            conn = self.connections.pick(address) if address else None
            if conn is None:
                self.dropped += 1
                log.debug("no live poller", address=message.address, task_id=message.task_id)
                continue
            conn.queue.put_nowait(message)

    def _redeliver(self, conn: PollConnection) -> None:
        """A connection died: its queued and its unclaimed anycast offers go to another member."""
        pending = [m for m in conn.offered.values() if self._unclaimed(m)]
        conn.offered.clear()
        while not conn.queue.empty():
            pending.append(conn.queue.get_nowait())
        anycast = [m for m in pending if _is_anycast(m)]
        if anycast:
            log.info("redelivering offers of a lost poller", pid=conn.pid, count=len(anycast))
        self.deliver(anycast)

    def _unclaimed(self, message: Outgoing) -> bool:
        return (
            message.task_id is not None
            and message.version is not None
            and self.state.unclaimed(message.task_id, message.version)
        )

    # ── routes ────────────────────────────────────────────────────────────

    def _authorized(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header, f"Bearer {self._token}")

    async def handle_request(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            envelope = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            return _envelope_response(error_envelope(None, None, 400, f"invalid JSON: {exc}"), 400)
        if not isinstance(envelope, dict):
            return _envelope_response(error_envelope(None, None, 400, "expected an object"), 400)
        head = envelope.get("head") if isinstance(envelope.get("head"), dict) else {}
        if not self._authorized(request):
            return _envelope_response(
                error_envelope(envelope.get("kind"), head.get("corrId"), 401, "unauthorized"), 401
            )
        response, outgoing = self.state.apply(envelope, self._clock())
        self.deliver(outgoing)
        return _envelope_response(response, 200)

    async def handle_poll(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        group = request.match_info["group"]
        pid = request.match_info["pid"]
        conn = PollConnection(group=group, pid=pid)
        previous = self.connections.add(group, pid, conn)
        if previous is not None:
            previous.closed = True
            self._redeliver(previous)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        log.info("poller connected", group=group, pid=pid, members=self.connections.size(group))
        in_hand: Outgoing | None = None
        loop = asyncio.get_running_loop()
        try:
            await response.write(b": connected\n\n")
            last_write = loop.time()
            while not conn.closed:
                try:
                    in_hand = await asyncio.wait_for(conn.queue.get(), timeout=LIVENESS_CHECK_S)
                except TimeoutError:
                    # A killed worker's socket closes at once: notice it now,
                    # not at the next write, so its offers move on quickly.
                    if request.transport is None or request.transport.is_closing():
                        break
                    if loop.time() - last_write >= self.settings.keepalive_s:
                        await response.write(b": keepalive\n\n")
                        last_write = loop.time()
                    continue
                await response.write(f"data: {in_hand.payload}\n\n".encode())
                last_write = loop.time()
                conn.remember(in_hand)
                self.delivered += 1
                in_hand = None
        except (ConnectionResetError, asyncio.CancelledError, RuntimeError):
            pass
        finally:
            self.connections.remove(group, pid, conn)
            conn.closed = True
            if in_hand is not None:
                conn.queue.put_nowait(in_hand)
            self._redeliver(conn)
            log.info("poller disconnected", group=group, pid=pid)
        return response

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ready",
                "storage": "memory (development stand-in)",
                "pollers": self.connections.groups(),
                **self.state.counts(),
            }
        )

    # ── lifecycle ─────────────────────────────────────────────────────────

    async def tick_forever(self) -> None:
        while True:
            self.deliver(self.state.tick(self._clock()))
            await asyncio.sleep(self.settings.tick_interval_s)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/", self.handle_request)
        app.router.add_get("/poll/{group}/{pid}", self.handle_poll)
        app.router.add_get("/health", self.health)
        app.router.add_get("/ready", self.ready)

        async def ticking(_app: web.Application) -> Any:
            task = asyncio.create_task(self.tick_forever())
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(ticking)
        return app


def _envelope_response(envelope: dict[str, Any], status: int) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(envelope),
        status=status,
        content_type="application/json",
    )


async def serve(settings: DevServerSettings, stop: asyncio.Event) -> None:
    server = DevServer(settings)
    runner = web.AppRunner(server.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    log.warning(
        "DEVELOPMENT Resonate server: in-memory state over the SDK's reference state machine; "
        "everything is lost when it stops. Use the real Resonate server (Postgres) in production.",
        url=f"http://{settings.host}:{settings.port}",
        protocol_version=PROTOCOL_VERSION,
        auth="bearer token" if settings.token else "off",
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("dev server stopped")


def _is_anycast(message: Outgoing) -> bool:
    address = parse_address(message.address)
    return address is not None and address.mode == "any"
