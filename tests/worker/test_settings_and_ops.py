"""Worker settings fail at boot when wrong; /metrics, /healthz and /readyz are served."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from services.common import resonate_token
from services.common.stream_status import ListenerStatus
from services.gateway.settings import GatewaySettings
from services.worker.metrics import WorkerMetrics, ops_app
from services.worker.settings import WorkerSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"LONGHAUL_WORKER_TTL_S": "0"}, "ttl_s"),
        ({"LONGHAUL_WORKER_CONCURRENCY": "zero"}, "concurrency"),
        ({"LONGHAUL_WORKER_PID": "Has Spaces"}, "pid"),
        ({"RESONATE_URL": "not a url"}, "RESONATE_URL"),
        ({"LONGHAUL_LOG_LEVEL": "LOUD"}, "LONGHAUL_LOG_LEVEL"),
    ],
)
def test_bad_worker_settings_fail(monkeypatch: pytest.MonkeyPatch, env: dict, field: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=field):
        WorkerSettings()


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"PORT": "70000"}, "PORT"),
        ({"LONGHAUL_RESONATE_TIMEOUT_S": "0"}, "resonate_timeout_s"),
        ({"LONGHAUL_MAX_BODY_BYTES": "10"}, "max_body_bytes"),
        ({"LONGHAUL_WEB_CONCURRENCY": "-1"}, "web_concurrency"),
        ({"LONGHAUL_MAX_WAIT_S": "25"}, "LONGHAUL_GRACEFUL_TIMEOUT_S"),
    ],
)
def test_bad_gateway_settings_fail(monkeypatch: pytest.MonkeyPatch, env: dict, field: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=field):
        GatewaySettings()


def test_settings_read_the_documented_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    private, _ = resonate_token.write_key_pair(tmp_path)
    token = resonate_token.mint(resonate_token.load_private_key(private), ttl_s=60, admin=True)
    monkeypatch.setenv("RESONATE_URL", "http://resonate:8001")
    monkeypatch.setenv("RESONATE_TOKEN", token)
    monkeypatch.setenv("LONGHAUL_WORKER_TTL_S", "5")
    monkeypatch.setenv("LONGHAUL_LOG_LEVEL", "debug")
    settings = WorkerSettings()
    assert settings.resonate_url_str == "http://resonate:8001"
    assert settings.token == token
    assert token not in repr(settings)
    assert settings.ttl_s == 5
    assert settings.log_level == "DEBUG"


async def test_ops_endpoints_follow_the_listener() -> None:
    metrics = WorkerMetrics()
    metrics.started.labels("echo").inc()
    listener = ListenerStatus()
    metrics.watch_listener(listener)
    draining = {"value": False}

    def not_ready() -> str | None:
        return "draining" if draining["value"] else listener.not_ready_reason()

    app = ops_app(metrics, not_ready, listener.not_live_reason, listener.snapshot)
    async with TestClient(TestServer(app)) as client:
        # Not connected yet: alive, not ready.
        assert (await client.get("/healthz")).status == 200
        response = await client.get("/readyz")
        assert response.status == 503
        assert "SSE listener starting" in (await response.json())["reason"]

        listener.connected()
        assert (await client.get("/readyz")).status == 200
        text = await (await client.get("/metrics")).text()
        assert 'longhaul_worker_executions_started_total{kind="echo"} 1.0' in text
        assert "longhaul_worker_listener_connected 1.0" in text
        assert 'longhaul_worker_listener_reconnects_total{cause="closed"} 0.0' in text

        # A lost stream: not ready, still alive (it is reconnecting).
        listener.disconnected("closed", "the server ended the stream")
        body = await (await client.get("/readyz")).json()
        assert body["status"] == "not ready"
        assert "reconnecting" in body["reason"] and "closed" in body["reason"]
        assert (await client.get("/healthz")).status == 200
        text = await (await client.get("/metrics")).text()
        assert "longhaul_worker_listener_connected 0.0" in text
        assert 'longhaul_worker_listener_reconnects_total{cause="closed"} 1.0' in text

        listener.connected()
        draining["value"] = True
        assert (await (await client.get("/readyz")).json())["reason"] == "draining"

        # A dead listener: the process must be restarted.
        listener.died("RuntimeError: boom")
        response = await client.get("/healthz")
        assert response.status == 503
        assert "boom" in (await response.json())["reason"]
        assert "longhaul_worker_listener_alive 0.0" in await (await client.get("/metrics")).text()


async def test_a_listener_task_that_ended_unannounced_is_dead() -> None:
    listener = ListenerStatus()

    async def ends() -> None:
        return None

    listener.task = asyncio.create_task(ends())
    assert listener.is_alive
    await listener.task
    assert not listener.is_alive
    assert listener.not_live_reason() is not None
    listener.stopped()  # a drain stops it on purpose: that is not death
    assert listener.is_alive
