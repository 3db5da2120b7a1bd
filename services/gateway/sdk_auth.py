"""The only gateway code that touches resonate-sdk internals: where the SDK keeps its token.

resonate-sdk 0.8.1 takes a token once, at construction, and copies it: the
``Sender`` puts ``Sender.auth`` into every envelope's ``head.auth`` (what the
Resonate server reads on ``POST /``) and ``HttpConnection._auth`` becomes an
``Authorization`` header. A renewed token must replace both, or the gateway
would go on sending the old one until it expires; the push stream
(``SupervisedSSE``) keeps its copy in ``_auth`` too. Pinned to resonate-sdk 0.8.1
(import-time check here, ``tests/gateway/test_sdk_auth_pins.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version

from resonate.connections import HttpConnection, SSEConnection
from resonate.resonate import Resonate

from services.common.resonate_credentials import ResonateCredentials

SDK_VERSION = "0.8.1"
if version("resonate-sdk") != SDK_VERSION:  # pragma: no cover - guarded by the lock file
    raise RuntimeError(f"sdk_auth is written for resonate-sdk {SDK_VERSION}")


def apply_token(resonate: Resonate, token: str | None) -> None:
    """Every request the SDK builds from now on carries ``token``."""
    resonate._sender.auth = token
    network = getattr(resonate, "_network", None)
    if isinstance(network, HttpConnection):
        network._auth = token


@contextlib.asynccontextmanager
async def keep_token_fresh(
    resonate: Resonate, credentials: ResonateCredentials
) -> AsyncIterator[None]:
    """The SDK sends the current token, renewed for as long as the block runs."""
    if credentials.mode == "off":
        yield
        return
    credentials.on_change.append(lambda token, _exp: apply_token(resonate, token))
    apply_token(resonate, credentials.token)
    task = asyncio.create_task(credentials.run(), name="longhaul-resonate-token")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def apply_stream_token(stream: SSEConnection, token: str | None) -> None:
    """The push stream's next (re)connect presents ``token`` (``SupervisedSSE`` reads ``_auth``)."""
    stream._auth = token
