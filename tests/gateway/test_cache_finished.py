"""Finished jobs are read once: a cached view, a strong ETag, 304s; never a pending job hidden."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.gateway.jobs.finished_views import FinishedViews, matches
from services.gateway.jobs.job_store import Job
from tests.gateway.conftest import AuthGateway, Gateway
from tests.support import (
    catalogue,
    create_app,
    gateway_settings,
    in_process_resonate,
    running,
    worker_deps,
)

pytestmark = pytest.mark.unit


class Reads:
    """Counts the job store's reads (each one a Resonate promise.get)."""

    def __init__(self, gateway: Gateway) -> None:
        self.count = 0
        store = gateway.app.state.store
        get = store.get

        async def counted(job_id: str) -> Job:
            self.count += 1
            return await get(job_id)

        store.get = counted


async def _finished(gateway: Gateway, headers: dict[str, str] | None = None) -> str:
    response = await gateway.client.post(
        "/v1/jobs", json={"kind": "echo", "input": {"n": 1}}, headers=headers
    )
    job_id = response.json()["id"]
    body = (await gateway.client.get(f"/v1/jobs/{job_id}?wait=5", headers=headers)).json()
    assert body["status"] == "succeeded"
    return job_id


async def _pending(gateway: Gateway) -> str:
    response = await gateway.client.post(
        "/v1/jobs", json={"kind": "sleep", "input": {"seconds": 600}}
    )
    return response.json()["id"]


async def test_a_finished_job_is_read_once_and_served_with_a_strong_etag(
    gateway: Gateway,
) -> None:
    job_id = await _finished(gateway)
    reads = Reads(gateway)
    first = await gateway.client.get(f"/v1/jobs/{job_id}")
    second = await gateway.client.get(f"/v1/jobs/{job_id}")
    assert reads.count == 0  # the long-poll that saw it finish cached it
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.json()["result"] == {"n": 1}
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == "private"
    assert first.headers["content-type"] == "application/json"
    assert "x-request-id" in first.headers  # still the app's response, middleware and all
    hits = gateway.app.state.metrics.registry.get_sample_value(
        "longhaul_gateway_finished_cache_total", {"result": "hit"}
    )
    assert hits == 2


@pytest.mark.parametrize(
    "header",
    ["{etag}", "W/{etag}", '"other", {etag}', '"other",W/{etag} , "more"', "*", " * "],
)
async def test_if_none_match_of_the_current_view_is_304(gateway: Gateway, header: str) -> None:
    job_id = await _finished(gateway)
    etag = (await gateway.client.get(f"/v1/jobs/{job_id}")).headers["etag"]
    response = await gateway.client.get(
        f"/v1/jobs/{job_id}", headers={"If-None-Match": header.format(etag=etag)}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "private"


@pytest.mark.parametrize("header", ['"other"', 'W/"other"', "", "garbage", '""'])
async def test_if_none_match_of_anything_else_is_the_view(gateway: Gateway, header: str) -> None:
    job_id = await _finished(gateway)
    response = await gateway.client.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": header})
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"


async def test_a_pending_job_is_never_cached_and_has_no_validator(gateway: Gateway) -> None:
    job_id = await _pending(gateway)
    reads = Reads(gateway)
    for _ in range(3):
        response = await gateway.client.get(f"/v1/jobs/{job_id}")
        assert response.json()["status"] == "pending"
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers
    assert reads.count == 3
    assert len(gateway.app.state.finished) == 0
    # "*" matches any current representation (RFC 9110 13.1.2), pending ones too.
    star = await gateway.client.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": "*"})
    assert star.status_code == 304 and "etag" not in star.headers


async def test_a_cancel_is_never_hidden_by_the_cache(gateway: Gateway) -> None:
    job_id = await _pending(gateway)
    assert (await gateway.client.get(f"/v1/jobs/{job_id}")).json()["status"] == "pending"
    assert (await gateway.client.delete(f"/v1/jobs/{job_id}")).status_code == 200
    after = await gateway.client.get(f"/v1/jobs/{job_id}")
    assert after.json()["status"] == "canceled"
    assert "etag" in after.headers


async def test_a_settle_is_never_hidden_by_the_cache(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0.3}}
    )
    job_id = response.json()["id"]
    assert (await gateway.client.get(f"/v1/jobs/{job_id}")).json()["status"] == "pending"
    pending_etag_less = (await gateway.client.get(f"/v1/jobs/{job_id}")).headers.get("etag")
    assert pending_etag_less is None
    await asyncio.sleep(0.5)
    for _ in range(50):
        body = (await gateway.client.get(f"/v1/jobs/{job_id}")).json()
        if body["status"] != "pending":
            break
        await asyncio.sleep(0.1)
    assert body["status"] == "succeeded"
    assert body["result"] == {"slept": 0.3}


@pytest.fixture
async def uncached() -> AsyncIterator[Gateway]:
    deps = worker_deps()
    kinds = catalogue()
    app = create_app(
        gateway_settings(finished_cache_size=0),
        resonate_factory=in_process_resonate(deps, kinds),
        catalogue=kinds,
    )
    async with running(app) as client:
        yield Gateway(app, client, deps)


async def test_size_zero_keeps_nothing_and_still_answers_304(uncached: Gateway) -> None:
    job_id = await _finished(uncached)
    reads = Reads(uncached)
    first = await uncached.client.get(f"/v1/jobs/{job_id}")
    again = await uncached.client.get(
        f"/v1/jobs/{job_id}", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert reads.count == 2
    assert len(uncached.app.state.finished) == 0


async def test_a_cached_view_is_served_only_to_its_tenant(auth_gateway: AuthGateway) -> None:
    job_id = await _finished(auth_gateway, auth_gateway.auth("a"))
    assert job_id in [key for key in auth_gateway.app.state.finished._views]
    other = await auth_gateway.client.get(f"/v1/jobs/{job_id}", headers=auth_gateway.auth("b"))
    assert other.status_code == 404
    anonymous = await auth_gateway.client.get(f"/v1/jobs/{job_id}")
    assert anonymous.status_code == 401


def _job(job_id: str, status: Any = "succeeded") -> Job:
    return Job(
        id=job_id,
        kind="echo",
        status=status,
        state="resolved" if status == "succeeded" else "pending",
        result={"id": job_id},
        error=None,
        created_ms=1,
        completed_ms=2 if status == "succeeded" else None,
        fingerprint=None,
    )


def test_views_are_bounded_least_recently_read_out_first_and_expire() -> None:
    now = [0.0]
    views = FinishedViews(size=2, ttl_s=10, clock=lambda: now[0])
    views.view_of(_job("a"))
    views.view_of(_job("b"))
    assert views.get("a") is not None  # a is now the most recently read
    views.view_of(_job("c"))
    assert views.get("b") is None and views.get("a") is not None and len(views) == 2
    now[0] = 10.5
    assert views.get("a") is None and views.get("c") is None and len(views) == 0


def test_a_pending_job_cannot_enter_the_cache() -> None:
    views = FinishedViews(size=2, ttl_s=10)
    with pytest.raises(ValueError, match="not final"):
        views.view_of(_job("p", status="pending"))
    assert len(views) == 0


def test_the_etag_follows_the_bytes() -> None:
    views = FinishedViews(size=0, ttl_s=10)
    one, two = views.view_of(_job("a")), views.view_of(_job("b"))
    assert one.etag != two.etag
    assert views.view_of(_job("a")).etag == one.etag
    assert matches(b"W/" + one.etag, one.etag) and not matches(two.etag, one.etag)


def test_a_view_leaves_the_cache_when_its_job_may_be_deleted() -> None:
    """LONGHAUL_RETENTION bounds a view's stay: the server will soon answer 404 for the job."""
    now = [0.0]
    wall = [2.0 + 4_000]  # the job (completed_ms=2) finished 4 s ago by the server's clock
    retention = {"a": 5_000, "b": 0}
    views = FinishedViews(
        size=10,
        ttl_s=300,
        clock=lambda: now[0],
        retention_ms=retention.__getitem__,
        wall_ms=lambda: wall[0],
    )
    views.view_of(_job("a"))
    views.view_of(_job("b"))  # retention 0 keeps forever: only the TTL bounds it
    now[0] = 0.9
    assert views.get("a") is not None
    now[0] = 1.0  # 5 s after the job finished: deletable
    assert views.get("a") is None and views.get("b") is not None
    # A view whose job is already past retention is served once, never kept.
    wall[0] = 2.0 + 6_000
    views.view_of(_job("a"))
    assert views.get("a") is None
