"""A supervised SSE stream to the Resonate server (resonate-sdk 0.8.1 internals, pinned).

Shared by the two processes that hold a poller stream: the worker (its source
of ``execute`` messages, group ``worker``) and the gateway (``unblock``
messages for the long-polls it serves, group ``gateway``). It is the only
SDK-internal code both use; each process's own pinned module
(``services/worker/sdk/``, ``services/gateway/sdk_auth.py``) builds on it, and
``tests/common/test_resonate_stream_pins.py`` fails when the SDK changes under it.

resonate-sdk 0.8.1 builds its SSE connection with ``aiohttp.ClientSession()``,
i.e. aiohttp's default ``ClientTimeout(total=300)``: 300 s after it connects
the stream read raises ``TimeoutError``, which ``SSEConnection._sse_loop`` does
not catch (it catches ``aiohttp.ClientError`` only), so the listener task ends
for good and the process never hears from the server again. ``SupervisedSSE``
replaces that loop: the stream has no total or read timeout (the real server
sends no keep-alive frames, so an idle stream is normal), TCP keep-alive finds
a peer that vanished, every way a stream can end is caught, reported to
``ListenerStatus`` and followed by a reconnect within ``reconnect_max_s``, and
the loop itself is watched: if it ever escapes, it is restarted and logged.

``SupervisedSSE`` builds its headers at each connect, so a reconnect after a
token renewal presents the new token (the SDK's loop built them once, before
its first connect).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import aiohttp
import structlog
from resonate.connections import SSEConnection
from resonate.connections.sse import SseFramer
from resonate.retry import ExponentialBackoff

from services.common.stream_status import DisconnectCause, ListenerStatus

SDK_VERSION = "0.8.1"
if version("resonate-sdk") != SDK_VERSION:  # pragma: no cover - guarded by the lock file
    raise RuntimeError(f"resonate_stream is written for resonate-sdk {SDK_VERSION}")

log = structlog.get_logger("longhaul.resonate.stream")

#: A loop that escapes this often within CRASH_WINDOW_S is a bug, not weather:
#: the listener is declared dead and liveness lets Kubernetes restart the pod.
MAX_CRASHES = 3
CRASH_WINDOW_S = 300.0


def keepalive_socket_factory(idle_s: int) -> Callable[[Any], socket.socket]:
    """Sockets that probe an idle peer after ``idle_s`` and give up about ``2 * idle_s`` later.

    Without it, a stream to a server whose host vanished (no FIN, no RST) stays
    "open" until the kernel's retransmission timeout, about 15 minutes.
    """
    interval = max(1, idle_s // 3)

    def factory(addr_info: Any) -> socket.socket:
        family, type_, proto, _, _ = addr_info
        sock = socket.socket(family=family, type=type_, proto=proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):  # Linux; elsewhere the system default applies
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        return sock

    return factory


def reconnect_backoff(max_s: float) -> ExponentialBackoff:
    """50 ms, doubling, capped at ``max_s``: a restarted server is found again within it."""
    return ExponentialBackoff(initial=min(0.05, max_s), factor=2.0, max_delay=max_s)


def disconnect_cause(exc: BaseException) -> DisconnectCause:
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return "reset"
    return "error"


class SupervisedSSE(SSEConnection):
    """The SDK's SSE source with a listener loop that cannot end while the process runs."""

    def __init__(
        self,
        url: str,
        *,
        pid: str,
        group: str,
        auth: str | None,
        status: ListenerStatus,
        connect_timeout_s: float,
        tcp_keepalive_s: int,
        reconnect_max_s: float,
    ) -> None:
        super().__init__(
            url, pid=pid, group=group, auth=auth, backoff=reconnect_backoff(reconnect_max_s)
        )
        self.status = status
        # No total and no read bound: an idle stream is the normal state of a
        # worker nobody sends work to, and the real server sends no keep-alive.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=None
        )
        self._keepalive_s = tcp_keepalive_s
        self._crashes: list[float] = []

    async def start(self) -> None:
        self._running = True
        self._sse_handle = asyncio.create_task(
            self._supervise(), name=f"longhaul-sse-{self._group}"
        )
        self.status.task = self._sse_handle

    async def stop(self) -> None:
        await super().stop()
        self.status.stopped()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._stopped:
                raise RuntimeError("source has been stopped")
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(
                    socket_factory=keepalive_socket_factory(self._keepalive_s)
                ),
            )
        return self._session

    async def _supervise(self) -> None:
        """Run the listen loop; restart it if it ever escapes, give up if that keeps happening."""
        while self._running:
            try:
                await self._sse_loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in the loop: logged, counted, restarted
                now = time.monotonic()
                self._crashes = [t for t in self._crashes if now - t < CRASH_WINDOW_S]
                self._crashes.append(now)
                detail = f"{type(exc).__name__}: {exc}"
                if len(self._crashes) > MAX_CRASHES:
                    log.error("SSE listener gave up", crashes=len(self._crashes), error=detail)
                    self.status.died(detail)
                    return
                log.exception("SSE listener crashed; restarting it", error=detail)
                await asyncio.sleep(self._backoff.delay(len(self._crashes)))

    async def _sse_loop(self) -> None:
        url = f"{self._url}/poll/{self._group}/{self._pid}"
        attempt = 0
        while self._running:
            opened_at = None
            # Built at each connect: a renewed token (apply_token) is presented
            # by the next reconnect, not only by the next process.
            headers = self._auth_headers({"Accept": "text/event-stream"})
            try:
                async with self._ensure_session().get(url, headers=headers) as resp:
                    if not 200 <= resp.status < 300:
                        cause: DisconnectCause = "status"
                        detail = f"HTTP {resp.status}"
                    else:
                        attempt, opened_at = 0, time.monotonic()
                        self.status.connected()
                        log.info("SSE listener connected", url=url)
                        await self._read_stream(resp)
                        cause, detail = "closed", "the server ended the stream"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                cause, detail = disconnect_cause(exc), f"{type(exc).__name__}: {exc}"
            if not self._running:
                return
            delay = self._backoff.delay(attempt)
            attempt += 1
            first = self.status.state != "reconnecting"
            self.status.disconnected(cause, detail)
            # One line per lost stream, and the first failed attempt of an
            # outage; the retries of an outage are debug lines.
            (log.warning if first or opened_at is not None else log.debug)(
                "SSE listener disconnected; reconnecting",
                cause=cause,
                detail=detail,
                connected_for_s=round(time.monotonic() - opened_at, 3) if opened_at else None,
                retry_in_s=round(delay, 3),
            )
            await self._sleeper(delay)

    async def _read_stream(self, resp: aiohttp.ClientResponse) -> None:
        """The SDK's pump, but a subscriber that raises loses its message, not the stream."""
        framer = SseFramer()
        async for chunk in resp.content.iter_any():
            for data in framer.feed(chunk):
                for callback in list(self._subscribers):
                    try:
                        callback(data)
                    except Exception:
                        log.exception("SSE message handler failed; message dropped")
