"""The v1 contract, against an in-process Resonate with the real worker jobs."""

from __future__ import annotations

import asyncio
import time

import pytest
from resonate.types import Value

from tests.gateway.conftest import Gateway
from tests.support import counter

pytestmark = pytest.mark.unit

PROBLEM = "application/problem+json"


async def submit(gateway: Gateway, body: dict, key: str | None = None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await gateway.client.post("/v1/jobs", json=body, headers=headers)


async def test_submit_then_read_result(gateway: Gateway) -> None:
    response = await submit(gateway, {"kind": "echo", "input": {"hello": "world", "n": [1, 2]}})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["kind"] == "echo"
    assert response.headers["location"] == f"/v1/jobs/{body['id']}" == body["links"]["self"]
    assert int(response.headers["retry-after"]) >= 0

    done = (await gateway.client.get(f"/v1/jobs/{body['id']}", params={"wait": 5})).json()
    assert done["status"] == "succeeded"
    assert done["result"] == {"hello": "world", "n": [1, 2]}
    assert done["created_at"] <= done["completed_at"]
    assert "error" not in done


async def test_sleep_and_pipeline_results(gateway: Gateway) -> None:
    sleep_id = (await submit(gateway, {"kind": "sleep", "input": {"seconds": 0.2}})).json()["id"]
    pipe_id = (
        await submit(gateway, {"kind": "pipeline", "input": {"values": [1, 2, 3, 4], "scale": 2}})
    ).json()["id"]
    slept = (await gateway.client.get(f"/v1/jobs/{sleep_id}", params={"wait": 5})).json()
    piped = (await gateway.client.get(f"/v1/jobs/{pipe_id}", params={"wait": 5})).json()
    assert slept["status"] == "succeeded" and slept["result"] == {"slept": 0.2}
    assert piped["status"] == "succeeded"
    assert piped["result"]["stats"]["sum"] == 20
    assert piped["result"]["stats"]["count"] == 4


async def test_same_key_same_body_is_one_job_and_one_execution(gateway: Gateway) -> None:
    body = {"kind": "echo", "input": {"x": 1}}
    first = await submit(gateway, body, key="order-42")
    await gateway.client.get(f"/v1/jobs/{first.json()['id']}", params={"wait": 5})
    second = await submit(gateway, body, key="order-42")
    assert second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    await asyncio.sleep(0.2)
    started = counter(gateway.deps.metrics, "longhaul_worker_executions_started_total", kind="echo")
    assert started == 1


@pytest.mark.parametrize(
    "second",
    [
        {"kind": "echo", "input": {"x": 2}},
        {"kind": "sleep", "input": {"seconds": 1}},
        {"kind": "echo", "input": {"x": 1}, "timeout_s": 60},
    ],
)
async def test_same_key_different_request_is_422(gateway: Gateway, second: dict) -> None:
    first = await submit(gateway, {"kind": "echo", "input": {"x": 1}}, key="k:1")
    assert first.status_code == 202
    response = await submit(gateway, second, key="k:1")
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"].endswith("idempotency-key-reused")
    assert problem["job_id"] == first.json()["id"]


async def test_key_fingerprint_uses_canonical_input(gateway: Gateway) -> None:
    a = await submit(gateway, {"kind": "pipeline", "input": {"values": [1]}}, key="canon")
    b = await submit(
        gateway, {"kind": "pipeline", "input": {"values": [1], "scale": 1}}, key="canon"
    )
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] == b.json()["id"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"kind": "nope", "input": {}}, ["body", "kind"]),
        ({"kind": "sleep", "input": {"seconds": 0}}, ["body", "input", "seconds"]),
        ({"kind": "sleep", "input": {"seconds": 3601}}, ["body", "input", "seconds"]),
        ({"kind": "sleep", "input": {"seconds": 1, "extra": True}}, ["body", "input", "extra"]),
        ({"kind": "sleep", "input": {}}, ["body", "input", "seconds"]),
        ({"kind": "pipeline", "input": {"values": []}}, ["body", "input", "values"]),
        ({"kind": "echo", "input": [1, 2]}, ["body", "input"]),
        ({"kind": "echo"}, ["body", "input"]),
        ({"kind": "echo", "input": {}, "timeout_s": -1}, ["body", "timeout_s"]),
        ({"kind": "echo", "input": {}, "surprise": 1}, ["body", "surprise"]),
    ],
)
async def test_invalid_requests_are_422_with_field_errors(
    gateway: Gateway, body: dict, loc: list[str]
) -> None:
    response = await submit(gateway, body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422
    assert any(error["loc"] == loc for error in problem["errors"]), problem["errors"]
    # Nothing reached a worker.
    assert not gateway.deps.metrics.registry.get_sample_value(
        "longhaul_worker_executions_started_total", {"kind": body.get("kind", "")}
    )


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "slash/no"])
async def test_malformed_idempotency_key_is_rejected(gateway: Gateway, key: str) -> None:
    response = await submit(gateway, {"kind": "echo", "input": {}}, key=key)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][-1] == "Idempotency-Key"


async def test_malformed_json_is_400(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/v1/jobs", content=b'{"kind": "echo", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("malformed-json")


async def test_body_over_limit_is_413_declared_or_streamed(gateway: Gateway) -> None:
    big = b'{"kind":"echo","input":{"pad":"' + b"x" * 5000 + b'"}}'
    declared = await gateway.client.post(
        "/v1/jobs", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"] == PROBLEM

    async def chunks():
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    streamed = await gateway.client.post(
        "/v1/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json()["status"] == 413


async def test_unknown_job_is_404(gateway: Gateway) -> None:
    for path in ("/v1/jobs/job-doesnotexist", "/v1/jobs/bad:id"):
        response = await gateway.client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM
    assert (await gateway.client.delete("/v1/jobs/job-doesnotexist")).status_code == 404


async def test_cancel_pending_then_completed_conflict(gateway: Gateway) -> None:
    job_id = (await submit(gateway, {"kind": "sleep", "input": {"seconds": 600}})).json()["id"]
    canceled = await gateway.client.delete(f"/v1/jobs/{job_id}")
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    again = await gateway.client.delete(f"/v1/jobs/{job_id}")
    assert again.status_code == 200 and again.json()["status"] == "canceled"
    read = (await gateway.client.get(f"/v1/jobs/{job_id}")).json()
    assert read["status"] == "canceled" and "completed_at" in read

    done_id = (await submit(gateway, {"kind": "echo", "input": {}})).json()["id"]
    await gateway.client.get(f"/v1/jobs/{done_id}", params={"wait": 5})
    conflict = await gateway.client.delete(f"/v1/jobs/{done_id}")
    assert conflict.status_code == 409
    assert conflict.json()["job"]["status"] == "succeeded"


async def test_long_poll_returns_at_deadline_while_pending(gateway: Gateway) -> None:
    job_id = (await submit(gateway, {"kind": "sleep", "input": {"seconds": 600}})).json()["id"]
    started = time.monotonic()
    response = await gateway.client.get(f"/v1/jobs/{job_id}", params={"wait": 0.4})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert "retry-after" in response.headers
    assert 0.4 <= elapsed < 2.0


async def test_long_poll_returns_as_soon_as_done(gateway: Gateway) -> None:
    job_id = (await submit(gateway, {"kind": "echo", "input": {"a": 1}})).json()["id"]
    started = time.monotonic()
    response = await gateway.client.get(f"/v1/jobs/{job_id}", params={"wait": 5})
    assert response.json()["status"] == "succeeded"
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("wait", ["6", "-1", "soon"])
async def test_wait_out_of_bounds_is_422(gateway: Gateway, wait: str) -> None:
    response = await gateway.client.get("/v1/jobs/job-x", params={"wait": wait})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


async def test_job_timeout_ends_as_timed_out(gateway: Gateway) -> None:
    body = {"kind": "sleep", "input": {"seconds": 600}, "timeout_s": 0.3}
    job_id = (await submit(gateway, body)).json()["id"]
    deadline = time.monotonic() + 5
    status = "pending"
    while status == "pending" and time.monotonic() < deadline:
        job = (await gateway.client.get(f"/v1/jobs/{job_id}", params={"wait": 1})).json()
        status = job["status"]
    assert status == "timed_out"
    assert "timeout" in job["error"]["message"]


async def test_failed_job_exposes_message_only(gateway: Gateway) -> None:
    job_id = (await submit(gateway, {"kind": "sleep", "input": {"seconds": 600}})).json()["id"]
    promises = gateway.app.state.resonate.promises
    await promises.reject(job_id, Value(data={"message": "boom", "__py_pickle": "ignored"}))
    job = (await gateway.client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "failed"
    assert job["error"] == {"type": "Error", "message": "boom"}


async def test_promises_that_are_not_jobs_are_hidden(gateway: Gateway) -> None:
    job_id = (await submit(gateway, {"kind": "pipeline", "input": {"values": [1]}})).json()["id"]
    await gateway.client.get(f"/v1/jobs/{job_id}", params={"wait": 5})
    promises = gateway.app.state.resonate.promises
    step = await promises.get(f"{job_id}:1")  # the first ctx.run step's promise
    assert step.state == "resolved"
    from resonate.types import Value

    await promises.create("not-a-job", 2**62, Value(data={}), {})
    for other in (f"{job_id}:1", "not-a-job"):
        assert (await gateway.client.get(f"/v1/jobs/{other}")).status_code == 404
        assert (await gateway.client.delete(f"/v1/jobs/{other}")).status_code == 404
    assert (await promises.get("not-a-job")).state == "pending"
