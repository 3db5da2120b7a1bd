"""What the shared SSE stream and the gateway's push rely on inside resonate-sdk 0.8.1.

``SupervisedSSE`` (the worker's listener and the gateway's push stream)
overrides ``SSEConnection``'s loop and reads its fields; the gateway registers
listeners through ``Sender.promise_register_listener`` and reads ``unblock``
messages with ``parse_promise``. An SDK upgrade fails here (and the
import-time version check fails both processes' boot) instead of silently
bypassing the supervision or losing the pushes.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import msgspec
import pytest
from resonate.connections import SSEConnection
from resonate.connections.sse import unicast
from resonate.send import Sender, parse_promise

from services.common import resonate_stream
from services.gateway import sdk_auth

pytestmark = pytest.mark.unit


def test_the_pinned_sdk_is_installed() -> None:
    assert version("resonate-sdk") == resonate_stream.SDK_VERSION == sdk_auth.SDK_VERSION


def test_sse_connection_internals_we_override_or_read() -> None:
    source = SSEConnection("http://127.0.0.1:1", pid="p", group="g", auth="t")
    for name in ("_url", "_pid", "_group", "_subscribers", "_session", "_sse_handle", "_auth"):
        assert hasattr(source, name), name
    assert source._running is False and source._stopped is False
    for method in ("_sse_loop", "_read_stream", "_ensure_session", "_auth_headers"):
        assert inspect.iscoroutinefunction(getattr(SSEConnection, method)) == (
            method in ("_sse_loop", "_read_stream")
        ), method
    assert source._auth_headers({}) == {"Authorization": "Bearer t"}
    params = inspect.signature(SSEConnection.__init__).parameters
    assert {"url", "pid", "group", "auth", "backoff", "sleeper"} <= set(params)
    # The defect SupervisedSSE exists for: the loop's only safety net is ClientError.
    assert "except aiohttp.ClientError" in inspect.getsource(SSEConnection._sse_loop)
    assert "aiohttp.ClientSession()" in inspect.getsource(SSEConnection._ensure_session)
    assert "self._auth_headers(" in inspect.getsource(resonate_stream.SupervisedSSE._sse_loop)


def test_the_address_a_stream_is_reached_at() -> None:
    source = SSEConnection("http://127.0.0.1:1", pid="gw-1", group="gateway")
    assert source.unicast() == unicast("gateway", "gw-1") == "poll://uni@gateway/gw-1"


def test_listener_registration_and_unblock_parsing() -> None:
    params = inspect.signature(Sender.promise_register_listener).parameters
    assert list(params) == ["self", "awaited", "address"]
    assert inspect.iscoroutinefunction(Sender.promise_register_listener)
    # An unblock's data is {"promise": record}, what promise.get answers with.
    record = {
        "id": "j",
        "state": "resolved",
        "param": {"headers": {}, "data": ""},
        "value": {"headers": {}, "data": ""},
        "tags": {"longhaul:kind": "echo"},
        "timeoutAt": 1,
        "createdAt": 1,
        "settledAt": 2,
    }
    parsed = parse_promise(msgspec.json.decode(msgspec.json.encode({"promise": record})))
    assert (parsed.id, parsed.state, parsed.settled_at) == ("j", "resolved", 2)
