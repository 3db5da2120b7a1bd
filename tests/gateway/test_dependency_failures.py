"""A Resonate server that is down or failing: bounded, explicit 503s, never a hang or 404."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from resonate.connections import LocalConnection
from resonate.resonate import Resonate

from services.gateway.app import connect_resonate
from services.gateway.settings import GatewaySettings
from services.stack.processes import free_port
from tests.support import create_app, gateway_settings, json_logging, running

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
    ("GET", "/v1/jobs/default.job-abc", None),
    ("GET", "/v1/jobs?status=failed", None),
    ("GET", "/v1/jobs/default.job-abc?wait=3", None),
    ("DELETE", "/v1/jobs/default.job-abc", None),
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
    with json_logging("gateway", io.StringIO()) as lines:
        async with running(app, advertised=False) as client:
            submitted = await client.post("/v1/jobs", json={"kind": "echo", "input": {}})
            read = await client.get("/v1/jobs/default.job-abc")
    assert submitted.status_code == read.status_code == 503
    # What failed is logged with the request id; the client is told to retry, no more.
    for response in (submitted, read):
        assert response.json()["detail"].startswith("The job store did not answer.")
        assert "simulated" not in response.text and str(status) not in response.json()["detail"]
        logged = [
            line
            for line in lines()
            if line["event"] == "resonate unavailable"
            and line["request_id"] == response.headers["x-request-id"]
        ]
        assert len(logged) == 1 and f"status {status}: simulated" in logged[0]["reason"]
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
    assert create["data"]["id"].startswith("default.job-")  # the tenant is the prefix
    assert tags["resonate:origin"] == tags["resonate:parent"] == create["data"]["id"]


class RacingNetwork:
    """The SDK's in-process server, answering 500 to the first N creates it has applied.

    The real v0.9.8 server does this to the loser of two concurrent creates
    of one id: the promise exists (the other create won), the answer is 500.
    """

    def __init__(self, races: int) -> None:
        self.inner = LocalConnection()
        self.races = races
        self.creates = 0

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def send(self, req: str, headers: dict[str, str] | None = None) -> str:
        answer = await self.inner.send(req, headers)
        envelope = json.loads(req)
        # Only job creates race here (the test app also advertises its kinds).
        if envelope["kind"] != "promise.create" or not envelope["data"]["id"].startswith(
            "default.job-"
        ):
            return answer
        self.creates += 1
        if self.creates > self.races:
            return answer
        return json.dumps(
            {
                "kind": envelope["kind"],
                "head": {"corrId": envelope["head"]["corrId"], "status": 500},
                "data": {"error": "duplicate key value violates unique constraint"},
            }
        )


@pytest.mark.parametrize("races", [1, 2])
async def test_the_losing_concurrent_create_becomes_the_stored_job(races: int) -> None:
    network = RacingNetwork(races)

    def factory(_settings: GatewaySettings) -> Resonate:
        return Resonate(network=network, sources=[], env={}, subscription_refresh_secs=0)

    app = create_app(gateway_settings(require_workers=False), resonate_factory=factory)
    headers = {"Idempotency-Key": "race-1"}
    async with running(app) as client:
        submitted = await client.post(
            "/v1/jobs", json={"kind": "echo", "input": {}}, headers=headers
        )
        again = await client.post("/v1/jobs", json={"kind": "echo", "input": {}}, headers=headers)
        read = await client.get(submitted.headers["location"])
    assert submitted.status_code == 202, submitted.text
    assert again.status_code == 202 and again.json()["id"] == submitted.json()["id"]
    assert read.status_code == 200 and read.json()["status"] == "pending"
    assert network.creates == races + 2


async def test_a_create_that_keeps_failing_is_a_bounded_503() -> None:
    network = RacingNetwork(races=100)

    def factory(_settings: GatewaySettings) -> Resonate:
        return Resonate(network=network, sources=[], env={}, subscription_refresh_secs=0)

    app = create_app(gateway_settings(require_workers=False), resonate_factory=factory)
    async with running(app) as client:
        submitted = await client.post("/v1/jobs", json={"kind": "echo", "input": {}})
    assert submitted.status_code == 503
    assert network.creates == 3
