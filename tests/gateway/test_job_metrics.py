"""The gateway's job metrics: canceled jobs' latency, series that exist from boot."""

from __future__ import annotations

import pytest

from tests.gateway.conftest import Gateway

pytestmark = pytest.mark.unit


def sample(gateway: Gateway, name: str, **labels: str) -> float | None:
    return gateway.app.state.metrics.registry.get_sample_value(name, labels)


async def test_a_cancel_is_observed_once_with_the_servers_timestamps(gateway: Gateway) -> None:
    count = "longhaul_gateway_job_latency_seconds_count"
    assert sample(gateway, count, kind="sleep", status="canceled") == 0  # declared at boot
    submitted = await gateway.client.post(
        "/v1/jobs", json={"kind": "sleep", "input": {"seconds": 600}}
    )
    job_id = submitted.json()["id"]
    assert (await gateway.client.delete(f"/v1/jobs/{job_id}")).status_code == 200
    # A second cancel finds the job settled already: not observed again.
    assert (await gateway.client.delete(f"/v1/jobs/{job_id}")).status_code == 200
    assert sample(gateway, count, kind="sleep", status="canceled") == 1
    job = (await gateway.client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "canceled"
    observed = sample(
        gateway, "longhaul_gateway_job_latency_seconds_sum", kind="sleep", status="canceled"
    )
    assert observed is not None and 0 <= observed < 60


async def test_resonate_errors_exist_at_zero_from_boot(gateway: Gateway) -> None:
    for operation in ("promise.create", "promise.get", "promise.settle"):
        assert sample(gateway, "longhaul_gateway_resonate_errors_total", operation=operation) == 0
