"""A Resonate server that is down or failing: bounded, explicit 503s, never a hang or 404."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from resonate.resonate import Resonate

from services.gateway.app import connect_resonate
from services.gateway.settings import GatewaySettings
from services.stack.processes import free_port
from tests.support import create_app, gateway_settings, running

pytestmark = pytest.mark.unit


class StubNetwork:
    """A Resonate server that answers every request with one status."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[dict[str, Any]] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, req: str, headers: dict[str, str] | None = None) -> str:
        envelope = json.loads(req)
        self.requests.append(envelope)
        return json.dumps(
            {
                "kind": envelope["kind"],
                "head": {"corrId": envelope["head"]["corrId"], "status": self.status},
                "data": {"error": "simulated"},
            }
        )


REQUESTS = [
    ("POST", "/v1/jobs", {"kind": "echo", "input": {}}),
    ("GET", "/v1/jobs/job-abc", None),
    ("GET", "/v1/jobs/job-abc?wait=3", None),
    ("DELETE", "/v1/jobs/job-abc", None),
    ("POST", "/begin?id=abc", {"a": 1}),
    ("GET", "/wait?id=abc", None),
    ("GET", "/readyz", None),
]


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
async def test_unreachable_server_is_503_within_the_bound(
    method: str, path: str, body: Any
) -> None:
    settings = gateway_settings(
        resonate_url=f"http://127.0.0.1:{free_port()}", resonate_timeout_s=0.5, retry_after_s=2
    )
    app = create_app(settings, resonate_factory=connect_resonate)
    async with running(app, advertised=False) as client:
        started = time.monotonic()
        response = await client.request(method, path, json=body)
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "2"
        assert response.json()["type"].endswith("resonate-unavailable")
        assert elapsed < 2.0
        assert (await client.get("/healthz")).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert "longhaul_gateway_resonate_errors_total" in metrics


@pytest.mark.parametrize("status", [500, 503, 401])
async def test_server_errors_map_to_503(status: int) -> None:
    network = StubNetwork(status)

    def factory(_settings: GatewaySettings) -> Resonate:
        return Resonate(network=network, sources=[], env={}, subscription_refresh_secs=0)

    app = create_app(gateway_settings(require_workers=False), resonate_factory=factory)
    async with running(app, advertised=False) as client:
        submitted = await client.post("/v1/jobs", json={"kind": "echo", "input": {}})
        read = await client.get("/v1/jobs/job-abc")
    assert submitted.status_code == read.status_code == 503
    assert str(status) in submitted.json()["detail"]
    assert network.requests, "the gateway never asked the server"


async def test_create_is_sent_with_routing_and_fingerprint_tags() -> None:
    network = StubNetwork(200)

    def factory(_settings: GatewaySettings) -> Resonate:
        return Resonate(network=network, sources=[], env={}, subscription_refresh_secs=0)

    app = create_app(gateway_settings(require_workers=False), resonate_factory=factory)
    async with running(app, advertised=False) as client:
        await client.post(
            "/v1/jobs", json={"kind": "echo", "input": {}}, headers={"Idempotency-Key": "t-1"}
        )
    create = next(r for r in network.requests if r["kind"] == "promise.create")
    tags = create["data"]["tags"]
    assert tags["resonate:target"] == "poll://any@worker"
    assert tags["longhaul:kind"] == "echo"
    assert len(tags["longhaul:fingerprint"]) == 64
    assert create["data"]["id"].startswith("job-")
