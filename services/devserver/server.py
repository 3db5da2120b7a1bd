"""An HTTP + SSE front speaking the Resonate wire protocol over the reference state.

``POST /`` takes request envelopes; ``GET /poll/{group}/{pid}`` is a worker's
SSE stream of ``execute`` and ``unblock`` messages. It behaves like the real
Resonate server v0.9.8 on the wire (see ``delivery.py``, ``routing.py`` and
``FaithfulServerState``) and keeps its state in SQLite or in memory
(``store.py``). It is a development stand-in for the Resonate server, not a
replacement for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec
import structlog
from aiohttp import web
from resonate.timing import now_ms

from services.devserver.auth import JwtVerifier
from services.devserver.delivery import Delivery, PollConnection
from services.devserver.metrics import CONTENT_TYPE, ServerMetrics
from services.devserver.reference_state import PROTOCOL_VERSION, error_envelope
from services.devserver.routing import ConnectionRegistry
from services.devserver.settings import DevServerSettings
from services.devserver.store import MemoryStore, SqliteStore, StoreError, open_store
from services.devserver.sweeper import Sweeper

log = structlog.get_logger("longhaul.devserver")

#: How often a waiting stream checks that its client is still there.
LIVENESS_CHECK_S = 0.25
#: What the real server answers the loser of two concurrent creates of one id
#: (Postgres under READ COMMITTED, no retry): 500 with the database's error.
CREATE_RACE_ERROR = (
    "Internal error: error returned from database: duplicate key value violates "
    'unique constraint "promises_pkey"'
)


class DevServer:
    def __init__(
        self,
        settings: DevServerSettings,
        clock: Any = now_ms,
        store: MemoryStore | SqliteStore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store if store is not None else open_store(settings.db)
        try:
            self.recovery = self.store.recover(settings.retry_timeout_ms)
        except BaseException:
            if isinstance(self.store, SqliteStore):
                self.store.close_sync()
            raise
        self.state = self.recovery.state
        self.metrics = ServerMetrics()
        if isinstance(self.store, SqliteStore):
            self.store.on_commit = self.metrics.commit
        self.delivery = Delivery(on_message=self.metrics.message)
        self._clock = clock
        #: None: auth off. Built here so a bad key fails the boot, as the real server's does.
        self.auth = (
            JwtVerifier.from_pem_file(
                settings.auth_publickey,
                issuer=settings.auth_iss,
                audience=settings.auth_aud,
                leeway_s=settings.auth_leeway_s,
                clock=lambda: self._clock() / 1000,
            )
            if settings.auth_publickey is not None
            else None
        )
        self.sweeper = Sweeper(settings.policy(), self.metrics.registry)
        #: ids whose next promise.create answers like the loser of a create race
        self._race_ids: set[str] = set()

    @property
    def connections(self) -> ConnectionRegistry[PollConnection]:
        return self.delivery.connections

    @property
    def dropped(self) -> int:
        return self.delivery.dropped

    @property
    def delivered(self) -> int:
        return self.delivery.delivered

    # ── routes ────────────────────────────────────────────────────────────

    async def handle_request(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await request.read()
        try:
            envelope = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            response = _error(None, None, 400, f"Invalid request envelope: {exc}")
            kind = None
        else:
            kind = envelope.get("kind") if isinstance(envelope, dict) else None
            response = await self._answer(envelope, body)
        self.metrics.request(kind, response.status, time.perf_counter() - started)
        return response

    async def _answer(self, envelope: Any, body: bytes) -> web.Response:
        if not isinstance(envelope, dict):
            return _error(None, None, 400, "Invalid request envelope: expected an object")
        head = envelope.get("head") if isinstance(envelope.get("head"), dict) else {}
        kind, corr_id = envelope.get("kind"), head.get("corrId")
        if head.get("version") != PROTOCOL_VERSION:
            # The real server accepts exactly one protocol version (src/server.rs).
            return _error(
                kind,
                corr_id,
                400,
                f"Unsupported protocol version '{head.get('version')}', "
                f'supported versions: ["{PROTOCOL_VERSION}"]',
            )
        if self.auth is not None:
            # After the envelope checks, before anything is applied (src/server.rs).
            # An envelope the real server cannot deserialize is a 400 whatever the token.
            if not isinstance(kind, str) or not kind:
                return _error(kind, corr_id, 400, "Missing or invalid 'kind' field")
            if not isinstance(envelope.get("data"), dict):
                return _error(kind, corr_id, 400, "Invalid 'data' field — must be an object")
            if head.get("auth") is not None and not isinstance(head.get("auth"), str):
                return _error(kind, corr_id, 400, "Invalid request envelope: head.auth")
            denied = self.auth.check_envelope(envelope)
            if denied is not None:
                text = "Unauthorized" if denied == 401 else "Forbidden"
                log.warning("request rejected by auth", kind=kind, status=denied)
                return _error(kind, corr_id, denied, text)
        if self.store.failed:
            # What is in memory could no longer be made durable: change nothing.
            return _error(kind, corr_id, 500, "Internal error: the journal cannot be written")
        now = self._clock()
        mutates = self.state.mutates(envelope, now)
        seq: int | None = None
        try:
            response, outgoing = self.state.apply(envelope, now)
        finally:
            # No await between apply and append: the journal order is the apply
            # order. A request that raised is journaled too: it may have changed
            # something before it did, and it raises again on replay.
            if mutates:
                seq = self.store.append(now, "request", body)
        self._maybe_snapshot()
        try:
            # A read waits too, for the rows before it: it may show their effects.
            await self.store.durable(seq)
        except StoreError as exc:
            return _error(kind, corr_id, 500, f"Internal error: {exc}")
        self.delivery.deliver(outgoing)
        if kind == "promise.create" and self._race_ids:
            data = envelope.get("data")
            promise_id = data.get("id") if isinstance(data, dict) else None
            if promise_id in self._race_ids:
                self._race_ids.discard(promise_id)
                log.warning("test route: promise.create answered as a race loser", id=promise_id)
                return _error(kind, corr_id, 500, CREATE_RACE_ERROR)
        return _envelope_response(response)

    async def handle_poll(self, request: web.Request) -> web.StreamResponse:
        group = request.match_info["group"]
        pid = request.match_info["pid"]
        if self.auth is not None and self.auth.check_bearer(request.headers.get("Authorization")):
            log.warning("poll connection rejected: unauthorized", group=group, pid=pid)
            return web.Response(status=401, text="Unauthorized")
        conn = PollConnection(group=group, pid=pid)
        if not self.connections.add(group, pid, conn):
            log.warning("poll connection refused: at capacity", group=group, pid=pid)
            return web.Response(status=503, text="Poll registration at capacity")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        loop = asyncio.get_running_loop()
        keepalive = self.settings.keepalive_s
        log.info("poller connected", group=group, pid=pid, members=self.connections.size(group))
        try:
            await response.prepare(request)
            last_write = loop.time()
            while True:
                try:
                    message = await asyncio.wait_for(conn.queue.get(), timeout=LIVENESS_CHECK_S)
                except TimeoutError:
                    # A killed worker's socket closes at once: notice it from the
                    # transport, not from a write (there may be none for a while).
                    if request.transport is None or request.transport.is_closing():
                        break
                    if keepalive is not None and loop.time() - last_write >= keepalive:
                        await response.write(b": keepalive\n\n")
                        last_write = loop.time()
                    continue
                if message is None:  # closed from the server side
                    break
                await response.write(f"data: {message.payload}\n\n".encode())
                last_write = loop.time()
        except (ConnectionResetError, RuntimeError):
            pass  # the client went away mid-write: what it had buffered is lost
        finally:
            self.connections.remove(group, conn)
            log.info("poller disconnected", group=group, pid=pid)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics_route(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def ready(self, _request: web.Request) -> web.Response:
        # Like the real server's /ready (503 when its database fails): a journal
        # that cannot be written means nothing more is acknowledged.
        failed = self.store.failed
        return web.json_response(
            status=503 if failed else 200,
            data={
                "status": "unavailable" if failed else "ready",
                "storage": f"{self.store.mode} (development stand-in)",
                "storage_mode": self.store.mode,
                "storage_path": self.store.path,
                "recovered": {
                    "replayed": self.recovery.replayed,
                    "seconds": round(self.recovery.seconds, 3),
                },
                "pollers": self.connections.groups(),
                "connections": self.connections.total(),
                "delivered": self.delivery.delivered,
                "dropped": self.delivery.dropped,
                **self.state.counts(),
                "retention_deleted": self.sweeper.totals,
                "file_bytes": self.store.file_bytes(),
            },
        )

    # ── test-only routes (LONGHAUL_DEVSERVER_TEST_ROUTES) ─────────────────

    async def test_close_streams(self, request: web.Request) -> web.Response:
        """Close the SSE streams of a group (or of one pid in it) from the server side."""
        group = request.query.get("group")
        if not group:
            return web.json_response({"error": "group is required"}, status=400)
        conns = self.connections.matching(group, request.query.get("pid"))
        for conn in conns:
            # Deregistered now, so nothing more is routed to them before the
            # stream tasks wake up and end.
            self.connections.remove(group, conn)
            conn.close()
        log.warning("test route: streams closed", group=group, closed=len(conns))
        return web.json_response({"closed": len(conns)})

    async def test_create_race(self, request: web.Request) -> web.Response:
        """Make the next promise.create of ``id`` create the promise but answer 500."""
        promise_id = request.query.get("id")
        if not promise_id:
            return web.json_response({"error": "id is required"}, status=400)
        self._race_ids.add(promise_id)
        log.warning("test route: next create answers as a race loser", id=promise_id)
        return web.json_response({"armed": promise_id})

    # ── lifecycle ─────────────────────────────────────────────────────────

    def _maybe_snapshot(self) -> None:
        if self.store.snapshot_due(self.settings.snapshot_every):
            self.store.snapshot(self.state.dump())

    async def tick_once(self) -> None:
        now = self._clock()
        if not self.state.has_due(now):
            return  # nothing expires or retries: nothing to journal
        outgoing = self.state.tick(now)
        seq = self.store.append(now, "tick", b"")
        self._maybe_snapshot()
        await self.store.durable(seq)
        self.delivery.deliver(outgoing)

    async def tick_forever(self) -> None:
        while True:
            try:
                await self.tick_once()
            except StoreError:
                log.exception("tick not journaled")
            await asyncio.sleep(self.settings.tick_interval_s)

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.retention_sweep_s)
            try:
                await self.sweeper.sweep_once(self.state, self.store, self._clock())
            except StoreError:
                log.exception("retention sweep not journaled")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/", self.handle_request)
        app.router.add_get("/poll/{group}/{pid}", self.handle_poll)
        app.router.add_get("/health", self.health)
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/metrics", self.metrics_route)
        if self.settings.test_routes:
            app.router.add_post("/test/close-streams", self.test_close_streams)
            app.router.add_post("/test/create-race", self.test_create_race)

        async def lifecycle(_app: web.Application) -> Any:
            await self.store.start()
            if self.recovery.replayed:
                # Start the next boot from here rather than replaying again.
                self.store.snapshot(self.state.dump())
            tasks = [asyncio.create_task(self.tick_forever())]
            if self.sweeper.policy.deletes_anything:
                tasks.append(asyncio.create_task(self.sweep_forever()))
            yield
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.store.close(self.state.dump())

        async def close_streams(_app: web.Application) -> None:
            # Streams end now rather than at the runner's shutdown timeout.
            for group in list(self.connections.groups()):
                for conn in self.connections.matching(group):
                    conn.close()

        app.cleanup_ctx.append(lifecycle)
        app.on_shutdown.append(close_streams)
        return app


def _envelope_response(envelope: dict[str, Any]) -> web.Response:
    # The HTTP status is the envelope's, as the real server answers (src/server.rs).
    return web.Response(
        body=msgspec.json.encode(envelope),
        status=envelope["head"]["status"],
        content_type="application/json",
    )


def _error(kind: Any, corr_id: Any, status: int, message: str) -> web.Response:
    return _envelope_response(error_envelope(kind, corr_id, status, message))


async def serve(settings: DevServerSettings, stop: asyncio.Event) -> None:
    server = DevServer(settings)
    runner = web.AppRunner(server.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    recovery = server.recovery
    log.warning(
        "DEVELOPMENT Resonate server: the SDK's reference state machine behind the real "
        "server's wire behaviour. Use the real Resonate server (Postgres) in production.",
        url=f"http://{settings.host}:{settings.port}",
        protocol_version=PROTOCOL_VERSION,
        storage=server.store.mode,
        db=server.store.path,
        lost_on_stop=server.store.mode == "memory",
        recovered=recovery.state.counts(),
        replayed=recovery.replayed,
        recovery_s=round(recovery.seconds, 3),
        retry_timeout_ms=settings.retry_timeout_ms,
        keepalive_s=settings.keepalive_s,
        retention_ms=settings.retention,
        retention_tenants_ms=settings.retention_tenants,
        retention_sweep_s=settings.retention_sweep_s,
        auth=(
            f"JWT ({settings.auth_publickey}, iss={settings.auth_iss}, aud={settings.auth_aud})"
            if settings.auth_publickey is not None
            else "off"
        ),
    )
    if settings.test_routes:
        log.warning(
            "TEST ROUTES ENABLED: POST /test/close-streams and /test/create-race change "
            "behaviour on request. Never enable outside tests."
        )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("dev server stopped")
