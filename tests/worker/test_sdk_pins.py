"""What ``services/worker/sdk/`` (connections, drain) relies on inside resonate-sdk 0.8.1.

The supervised SSE stream it shares with the gateway is pinned in
``tests/common/test_resonate_stream_pins.py``.

Every private name it reads or overrides is checked here, so an SDK upgrade
fails this test (and the import-time version check fails the worker's boot)
instead of silently bypassing the listener supervision or the drain.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest
from resonate.connections import HttpConnection
from resonate.heartbeat import AsyncHeartbeat
from resonate.resonate import Resonate, _Runtime
from resonate.send import Sender

from services.common.stream_status import ListenerStatus
from services.worker import sdk
from services.worker.runner import connect_worker
from services.worker.sdk import connections
from services.worker.settings import WorkerSettings

pytestmark = pytest.mark.unit


def test_the_pinned_sdk_is_installed() -> None:
    assert version("resonate-sdk") == sdk.SDK_VERSION


def test_http_connection_internals_we_override() -> None:
    network = HttpConnection("http://127.0.0.1:1")
    for name in ("_session", "_stopped", "_conn_limit"):
        assert hasattr(network, name), name
    assert not inspect.iscoroutinefunction(HttpConnection._ensure_session)
    assert "backoff" in inspect.signature(HttpConnection.__init__).parameters
    # BoundedHttp's read bound is retried only because the send loop retries ClientError.
    assert "aiohttp.ClientError" in inspect.getsource(HttpConnection.send)


def test_resonate_internals_the_drain_reads() -> None:
    for name in ("_source", "_runtime", "_heartbeat", "_sender"):
        assert name in inspect.getsource(Resonate.__init__), name
    runtime = _Runtime(1)
    assert runtime.stopping is False and runtime.bg_tasks == set()
    assert inspect.iscoroutinefunction(Sender.task_release)
    assert hasattr(AsyncHeartbeat(pid="p", interval_ms=1000, sender=None), "active_tasks")


def test_the_sdk_keeps_its_token_where_apply_token_replaces_it() -> None:
    """Sender.auth -> head.auth of every envelope (heartbeats too); _auth -> headers."""
    head = inspect.getsource(Sender._make_head)
    assert "auth=self.auth" in head
    init = inspect.getsource(Resonate.__init__)
    assert "Sender(transport, auth" in init
    assert "AsyncHeartbeat(resolved_pid, interval_ms, sender" in init
    for name in ("self._network = net", "self._source: Source | None = source"):
        assert name in init, name
    # Headers are built from _auth at each request / each connect of our loop.
    assert "self._auth_headers(" in inspect.getsource(HttpConnection.send)
    assert "self._auth_headers(" in inspect.getsource(connections.SupervisedSSE._sse_loop)


async def test_apply_token_reaches_every_copy_of_a_real_worker_client() -> None:
    settings = WorkerSettings(RESONATE_URL="http://127.0.0.1:9", LONGHAUL_WORKER_PID="w1")
    resonate = connect_worker(settings, ListenerStatus(), "old")
    try:
        assert resonate._sender._make_head().auth == "old"
        connections.apply_token(resonate, "new")
        assert resonate._sender._make_head().auth == "new"
        assert resonate._heartbeat.sender is resonate._sender
        assert resonate._network._auth_headers({}) == {"Authorization": "Bearer new"}
        assert resonate._source._auth_headers({}) == {"Authorization": "Bearer new"}
    finally:
        await resonate.stop()
