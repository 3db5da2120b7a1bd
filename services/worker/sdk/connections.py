"""The worker's SDK connections: bounded requests, a supervised listener, token renewal.

**Connections.** resonate-sdk 0.8.1 builds its HTTP and SSE connections with
``aiohttp.ClientSession()``, i.e. aiohttp's default ``ClientTimeout(total=300)``.
The SSE listener is ``SupervisedSSE`` (``services/common/resonate_stream.py``,
shared with the gateway's push stream). ``BoundedHttp`` gives requests a
connect and a read bound instead of 300 s, and reconnects on a short capped
ladder instead of the SDK's 1 s -> 60 s.

**Token.** The SDK copies its token at construction: ``Sender.auth`` goes into
every envelope's ``head.auth`` (heartbeats included), ``HttpConnection._auth``
and ``SSEConnection._auth`` become ``Authorization`` headers. ``apply_token``
replaces all three when the worker renews its token; ``SupervisedSSE`` builds
its headers at each connect, so a reconnect after a renewal presents the new one.
"""

from __future__ import annotations

import aiohttp
from resonate.connections import HttpConnection, SSEConnection
from resonate.resonate import Resonate

from services.common.resonate_stream import (
    MAX_CRASHES,
    SupervisedSSE,
    keepalive_socket_factory,
    reconnect_backoff,
)

__all__ = ["MAX_CRASHES", "BoundedHttp", "SupervisedSSE", "apply_token"]


class BoundedHttp(HttpConnection):
    """The SDK's request connection with a connect and a read bound instead of 300 s total."""

    def __init__(
        self,
        url: str,
        auth: str | None,
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        tcp_keepalive_s: int,
        reconnect_max_s: float,
    ) -> None:
        super().__init__(url=url, auth=auth, backoff=reconnect_backoff(reconnect_max_s))
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self._keepalive_s = tcp_keepalive_s

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._stopped:
                raise RuntimeError("network has been stopped")
            # A read bound surfaces as aiohttp.ServerTimeoutError, a ClientError,
            # which the SDK's send loop retries like any lost connection.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(
                    limit=self._conn_limit,
                    socket_factory=keepalive_socket_factory(self._keepalive_s),
                ),
            )
        return self._session


def apply_token(resonate: Resonate, token: str | None) -> None:
    """Every request and every (re)connect the SDK makes from now on carries ``token``.

    A request already being retried keeps the envelope it was serialized with;
    a token renewed at half-life is still valid for as long again.
    """
    resonate._sender.auth = token
    connections = [getattr(resonate, "_network", None), getattr(resonate, "_source", None)]
    for connection in connections:
        if isinstance(connection, HttpConnection | SSEConnection):
            connection._auth = token
