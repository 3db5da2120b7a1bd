"""A kind's entry point on the worker: retries, attempts, permanent and stored failures.

The kinds come from the example project (``acme_jobs.kinds``) and ``tests/kinds.py``,
loaded the way ``LONGHAUL_JOB_MODULES`` loads them; gateway and worker share one
in-process Resonate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from resonate.error import ServerError

from services.worker.attempts import marker_id
from tests.support import (
    catalogue,
    counter,
    create_app,
    gateway_settings,
    in_process_resonate,
    running,
    worker_deps,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def deps():
    return worker_deps()


@pytest.fixture
async def client(deps) -> AsyncIterator[httpx.AsyncClient]:
    kinds = catalogue()
    app = create_app(
        gateway_settings(), resonate_factory=in_process_resonate(deps, kinds), catalogue=kinds
    )
    async with running(app) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


async def run_job(client: httpx.AsyncClient, kind: str, input: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/jobs", json={"kind": kind, "input": input})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    for _ in range(20):
        job = (await client.get(f"/v1/jobs/{job_id}", params={"wait": 5})).json()
        if job["status"] != "pending":
            return job
    raise AssertionError(f"{kind} job still pending: {job}")


def steps(trace_dir: Path, job_id: str) -> list[str]:
    return (trace_dir / f"{job_id}.log").read_text().splitlines()


async def test_a_failing_job_is_retried_and_keeps_its_completed_steps(
    client: httpx.AsyncClient, deps, tmp_path: Path
) -> None:
    job = await run_job(client, "flaky", {"fail_times": 2, "trace_dir": str(tmp_path)})
    assert job["status"] == "succeeded", job
    assert job["result"] == {"succeeded_at_attempt": 3, "prepared": "prepared"}
    assert job["attempts"] == 3
    # The completed step ran once; the body after it ran in each attempt.
    assert steps(tmp_path, job["id"]) == ["prepare", "attempt 1", "attempt 2", "attempt 3"]
    assert counter(deps.metrics, "longhaul_worker_jobs_completed_total", kind="flaky") == 1


async def test_after_the_last_attempt_the_job_fails_with_type_and_message(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    job = await run_job(client, "flaky", {"fail_times": 10, "trace_dir": str(tmp_path)})
    assert job["status"] == "failed"
    assert job["error"] == {"type": "Unlucky", "message": "attempt 4 of 11 fails on purpose"}
    assert job["attempts"] == 4  # the kind's max_attempts
    assert steps(tmp_path, job["id"]).count("prepare") == 1


async def test_a_permanent_error_fails_at_once(client: httpx.AsyncClient) -> None:
    job = await run_job(client, "doomed", {"reason": "no such customer"})
    assert job["status"] == "failed"
    assert job["error"] == {"type": "PermanentError", "message": "no such customer"}
    assert job["attempts"] == 1


async def test_a_failed_step_is_retried_and_a_permanent_step_error_is_not(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    line = {"sku": "a", "quantity": 3, "unit_price_eur": "2.50"}
    base = {"customer": "c", "lines": [line], "trace_dir": str(tmp_path)}
    job = await run_job(client, "invoice", {**base, "currency": "USD", "rate_failures": 2})
    assert job["status"] == "succeeded" and job["attempts"] == 3
    assert job["result"]["total"] == "8.12"
    assert steps(tmp_path, job["id"]) == ["fetch_rate"] * 3 + ["store_invoice"]

    unknown = await run_job(client, "invoice", {**base, "currency": "JPY"})
    assert unknown["status"] == "failed" and unknown["attempts"] == 1
    assert unknown["error"] == {"type": "PermanentError", "message": "no exchange rate for JPY"}


async def test_a_step_result_that_cannot_be_stored_fails_within_the_policy(
    client: httpx.AsyncClient,
) -> None:
    # Infinity is stored as null, and every replay then fails to decode it: this
    # used to be released and redelivered forever, thousands of times a minute.
    job = await run_job(client, "overflow", {})
    assert job["status"] == "failed"
    assert job["error"]["type"] == "SerializationError"
    assert job["attempts"] == 3
    promises = client.app.state.resonate.promises  # type: ignore[attr-defined]
    for n in (1, 2, 3):
        assert (await promises.get(marker_id(job["id"], n))).state == "rejected"
    # A fourth execution found three failed attempts and failed the job without
    # running it; nothing ran after it.
    with pytest.raises(ServerError):
        await promises.get(marker_id(job["id"], 5))


async def test_a_result_json_cannot_hold_fails_permanently(client: httpx.AsyncClient) -> None:
    job = await run_job(client, "pipeline", {"values": [1e100, -1e100, 1e100]})
    assert job["status"] == "succeeded"  # within the input bounds the statistics stay finite
    assert job["result"]["stats"]["count"] == 3


async def test_no_pickle_and_no_traceback_is_stored_unless_asked(
    client: httpx.AsyncClient,
) -> None:
    job = await run_job(client, "doomed", {})
    resonate = client.app.state.resonate  # type: ignore[attr-defined]
    stored = (await resonate.promises.get(job["id"])).value.data
    assert set(stored) == {"__type", "message"}, stored  # no __py_pickle
    assert "traceback" not in job["error"]


async def test_tracebacks_when_the_worker_setting_asks() -> None:
    deps = worker_deps(tracebacks=True)
    kinds = catalogue()
    app = create_app(
        gateway_settings(), resonate_factory=in_process_resonate(deps, kinds), catalogue=kinds
    )
    async with running(app) as client:
        job = await run_job(client, "doomed", {"reason": "why"})
    assert (
        "Traceback" in job["error"]["traceback"]
        and "PermanentError: why" in job["error"]["traceback"]
    )


async def test_input_the_model_rejects_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/jobs", json={"kind": "invoice", "input": {"customer": "c", "currency": "usd"}}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "urn:longhaul:problem:invalid-input"
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "input", "currency") in locs and ("body", "input", "lines") in locs


async def test_a_completed_job_leaves_no_marker_pending_and_every_marker_in_its_group(
    client: httpx.AsyncClient,
) -> None:
    """Retention deletes a group only when nothing in it is pending (common/retention.py)."""
    promises = client.app.state.resonate.promises  # type: ignore[attr-defined]
    done = await run_job(client, "echo", {"a": 1})
    failed = await run_job(client, "overflow", {})
    assert (done["status"], failed["status"]) == ("succeeded", "failed")
    for job, markers in ((done, 1), (failed, 4)):
        for n in range(1, markers + 1):
            marker = await promises.get(marker_id(job["id"], n))
            assert marker.state != "pending", (job["id"], n)
            assert marker.tags["resonate:origin"] == job["id"]
