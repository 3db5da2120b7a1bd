"""The Resonate example's /begin + /wait, and the operational endpoints."""

from __future__ import annotations

import io
import json

import pytest

from tests.gateway.conftest import Gateway
from tests.support import json_logging

pytestmark = pytest.mark.unit


async def test_begin_then_wait(gateway: Gateway) -> None:
    begun = await gateway.client.post("/begin", params={"id": "order.7"}, json={"n": 7})
    assert begun.status_code == 200
    assert begun.json() == {"promise": "order.7", "status": "pending", "wait": "/wait?id=order.7"}
    # The promise behind a compatibility id is <tenant>.<id>: 'default' with auth off.
    waited = (await gateway.client.get("/v1/jobs/default.order.7", params={"wait": 5})).json()
    assert waited["status"] == "succeeded"
    compat = (await gateway.client.get("/wait", params={"id": "order.7"})).json()
    assert compat == {"status": "resolved", "promise_id": "order.7", "result": {"n": 7}}


async def test_begin_same_id_other_data_is_422_and_same_data_is_fine(gateway: Gateway) -> None:
    assert (await gateway.client.post("/begin?id=b1", json={"n": 1})).status_code == 200
    assert (await gateway.client.post("/begin?id=b1", json={"n": 1})).status_code == 200
    clash = await gateway.client.post("/begin?id=b1", json={"n": 2})
    assert clash.status_code == 422
    assert clash.json()["type"].endswith("idempotency-key-reused")


@pytest.mark.parametrize("query", ["", "?id=", "?id=has:colon", "?id=" + "x" * 129])
async def test_begin_rejects_bad_ids(gateway: Gateway, query: str) -> None:
    response = await gateway.client.post(f"/begin{query}", json={})
    assert response.status_code == 422


async def test_wait_unknown_is_404(gateway: Gateway) -> None:
    response = await gateway.client.get("/wait", params={"id": "missing"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_health_ready_openapi_docs(gateway: Gateway) -> None:
    assert (await gateway.client.get("/healthz")).json() == {"status": "ok"}
    assert (await gateway.client.get("/readyz")).json() == {
        "status": "ready",
        "wait": {"push": False},
    }
    spec = (await gateway.client.get("/openapi.json")).json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/begin", "/wait"} <= set(spec["paths"])
    assert "Idempotency-Key" in json.dumps(spec["paths"]["/v1/jobs"]["post"]["parameters"])
    assert (await gateway.client.get("/docs")).status_code == 200


async def test_unknown_route_and_method_are_problems(gateway: Gateway) -> None:
    missing = await gateway.client.get("/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = await gateway.client.put("/v1/jobs")
    assert wrong.status_code == 405
    assert wrong.json()["status"] == 405


async def test_request_id_is_echoed_and_in_problems(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/jobs/job-none", headers={"X-Request-ID": "req-123"})
    assert response.headers["x-request-id"] == "req-123"
    assert response.json()["request_id"] == "req-123"
    generated = await gateway.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"


async def test_metrics_count_requests_by_route_template(gateway: Gateway) -> None:
    await gateway.client.post("/v1/jobs", json={"kind": "echo", "input": {}})
    await gateway.client.get("/v1/jobs/job-a")
    await gateway.client.get("/v1/jobs/job-b")
    text = (await gateway.client.get("/metrics")).text
    assert (
        'longhaul_gateway_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"} 2.0'
        in text
    )
    assert 'longhaul_gateway_job_submissions_total{kind="echo",outcome="created"} 1.0' in text
    assert "job-a" not in text


async def test_one_json_log_line_per_request_with_request_id(gateway: Gateway) -> None:
    with json_logging("gateway", io.StringIO()) as read_lines:
        await gateway.client.get("/v1/jobs/job-zzz", headers={"X-Request-ID": "log-me"})
        lines = [line for line in read_lines() if line.get("logger") == "longhaul.gateway.access"]
    assert len(lines) == 1
    (line,) = lines
    assert line["request_id"] == "log-me"
    assert line["status"] == 404
    assert line["route"] == "/v1/jobs/{job_id}"
    assert line["service"] == "gateway"
    assert line["level"] == "info"
