"""``GET /v1/jobs``: a tenant's jobs by status and kind, in cursor pages, never another's.

Runs the gateway in process over the dev server's state machine
(``tests.support.searchable_local_resonate``): the SDK's own in-process
server has no ``promise.search``. Before the list existed ``GET /v1/jobs``
was 405 and jobs carried no tenant tag, so every test here failed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from resonate.resonate import Resonate
from resonate.types import TaskData, Value

from services.gateway.jobs.job_store import TAG_KIND, TAG_TENANT, TAG_TYPE
from services.gateway.jobs.list_cursor import encode_cursor
from services.gateway.settings import GatewaySettings
from tests.gateway.conftest import AuthGateway, Gateway
from tests.gateway.test_dependency_failures import StubNetwork
from tests.support import create_app, gateway_settings, running

pytestmark = pytest.mark.unit

PROBLEM = "application/problem+json"
ECHO = {"kind": "echo", "input": {"n": 1}}
DOOMED = {"kind": "doomed", "input": {"reason": "on purpose"}}
SLEEP = {"kind": "sleep", "input": {"seconds": 600}}


async def _submit(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> str:
    response = await client.post("/v1/jobs", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def _done(client: httpx.AsyncClient, job_id: str, **headers: str) -> dict[str, Any]:
    for _ in range(50):
        body = (await client.get(f"/v1/jobs/{job_id}?wait=2", headers=headers)).json()
        if body["status"] != "pending":
            return body
    raise AssertionError(f"{job_id} still pending")


async def _list(client: httpx.AsyncClient, query: str = "", **headers: str) -> dict[str, Any]:
    response = await client.get(f"/v1/jobs{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _all_pages(client: httpx.AsyncClient, query: str, **headers: str) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        sep = "&" if query else "?"
        page = await _list(client, query + (f"{sep}cursor={cursor}" if cursor else ""), **headers)
        pages.append([job["id"] for job in page["jobs"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def test_each_tenant_lists_its_own_jobs_only(auth_gateway: AuthGateway) -> None:
    c = auth_gateway.client
    a = auth_gateway.auth("a")
    b = auth_gateway.auth("b")
    mine = {await _submit(c, ECHO, **a) for _ in range(3)} | {await _submit(c, SLEEP, **a)}
    theirs = {await _submit(c, ECHO, **b) for _ in range(2)}
    listed_a = {job["id"] for job in (await _list(c, **a))["jobs"]}
    listed_b = {job["id"] for job in (await _list(c, **b))["jobs"]}
    assert listed_a == mine and listed_b == theirs
    # Whatever the filter or the cursor, B never sees A's jobs.
    for query in ("?status=pending", "?kind=sleep", "?limit=1000", "?status=succeeded"):
        assert not {job["id"] for job in (await _list(c, query, **b))["jobs"]} & mine, query
    # A read-only key of A's tenant lists A's jobs.
    assert {j["id"] for j in (await _list(c, **auth_gateway.auth("a_read")))["jobs"]} == mine


async def test_failed_jobs_of_today_and_each_status(gateway: Gateway) -> None:
    c = gateway.client
    failed = {await _submit(c, DOOMED) for _ in range(2)}
    succeeded = {await _submit(c, ECHO) for _ in range(2)}
    canceled = await _submit(c, SLEEP)
    assert (await c.delete(f"/v1/jobs/{canceled}")).json()["status"] == "canceled"
    timed_out = await _submit(c, {**SLEEP, "timeout_s": 0.2})
    pending = await _submit(c, SLEEP)
    for job_id in (*failed, *succeeded, timed_out):
        await _done(c, job_id)
    expected = {
        "failed": failed,
        "succeeded": succeeded,
        "canceled": {canceled},
        "timed_out": {timed_out},
        "pending": {pending},
    }
    for status, ids in expected.items():
        page = await _list(c, f"?status={status}")
        assert {job["id"] for job in page["jobs"]} == ids, status
        assert {job["status"] for job in page["jobs"]} == {status}
    failure = (await _list(c, "?status=failed"))["jobs"][0]
    assert failure["error"]["message"] == "on purpose"


async def test_a_listed_job_is_the_same_view_as_its_read(gateway: Gateway) -> None:
    c = gateway.client
    ids = [await _submit(c, ECHO), await _submit(c, DOOMED), await _submit(c, SLEEP)]
    for job_id in ids[:2]:
        await _done(c, job_id)
    listed = {job["id"]: job for job in (await _list(c))["jobs"]}
    for job_id in ids:
        assert listed[job_id] == (await c.get(f"/v1/jobs/{job_id}")).json()


async def test_kind_filter_and_unknown_kind(gateway: Gateway) -> None:
    c = gateway.client
    echoes = {await _submit(c, ECHO) for _ in range(2)}
    await _submit(c, SLEEP)
    assert {job["id"] for job in (await _list(c, "?kind=echo"))["jobs"]} == echoes
    assert (await _list(c, "?kind=pipeline"))["jobs"] == []
    unknown = await c.get("/v1/jobs?kind=nope")
    assert unknown.status_code == 422 and unknown.headers["content-type"] == PROBLEM
    assert unknown.json()["type"] == "urn:longhaul:problem:unknown-kind"


async def test_pages_cover_every_job_once_in_id_order(gateway: Gateway) -> None:
    c = gateway.client
    ids = {await _submit(c, SLEEP) for _ in range(7)}
    pages = await _all_pages(c, "?limit=3")
    assert [len(page) for page in pages] == [3, 3, 1]
    flat = [job_id for page in pages for job_id in page]
    assert flat == sorted(ids)  # ordered by id (random: not by submission time)
    # Exactly a page's worth left: the last full page says there is no next one.
    assert [len(page) for page in await _all_pages(c, "?limit=7")] == [7]
    first = await c.get("/v1/jobs?limit=3&status=pending")
    cursor = first.json()["next_cursor"]
    assert first.headers["link"] == (
        f'</v1/jobs?status=pending&limit=3&cursor={cursor}>; rel="next"'
    )
    follow = await c.get(first.headers["link"].split(">")[0].lstrip("<"))
    assert [j["id"] for j in follow.json()["jobs"]] == sorted(ids)[3:6]
    last = await c.get("/v1/jobs?limit=100")
    assert "link" not in last.headers and last.json()["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?status=rejected",
        "?status=",
        "?kind=",
        "?cursor=",
        "?cursor=%%%",
        "?cursor=bm90LWEtam9i",  # base64url of "not-a-job": no tenant prefix
        "?cursor=" + encode_cursor("globex.job-" + "0" * 32),  # another tenant's range
        "?cursor=" + encode_cursor("default.job-\n"),
        "?cursor=" + "A" * 300,
    ],
)
async def test_bad_parameters_are_422_problems(gateway: Gateway, query: str) -> None:
    response = await gateway.client.get(f"/v1/jobs{query}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["loc"][0] == "query"


async def test_limit_1000_is_accepted(gateway: Gateway) -> None:
    await _submit(gateway.client, ECHO)
    assert len((await _list(gateway.client, "?limit=1000"))["jobs"]) == 1


async def test_what_is_not_listed(gateway: Gateway) -> None:
    """Only promises with the job tags: steps, adverts, and jobs from before the tags."""
    c = gateway.client
    job_id = await _submit(c, ECHO)
    await _done(c, job_id)
    resonate: Resonate = gateway.app.state.resonate
    stored = await resonate.promises.get(job_id)
    assert stored.tags[TAG_TENANT] == "default" and stored.tags[TAG_TYPE] == "job"
    # A job submitted by a gateway before the list existed: no tenant nor type tag.
    old = await resonate.promises.create(
        "default.job-" + "f" * 32,
        2**62,
        Value(data=TaskData(func="echo", args=({},), kwargs={}, version=1)),
        {TAG_KIND: "echo"},
    )
    assert (await c.get(f"/v1/jobs/{old.id}")).status_code == 200  # readable by id
    assert [job["id"] for job in (await _list(c))["jobs"]] == [job_id]  # not listed


def _stub_factory(network: StubNetwork) -> Any:
    def factory(_settings: GatewaySettings) -> Resonate:
        return Resonate(network=network, sources=[], env={}, subscription_refresh_secs=0)

    return factory


async def test_a_refused_search_is_an_explicit_501() -> None:
    """A prefix-scoped Resonate token may not search: say so, do not pretend it is down."""
    network = StubNetwork(403)
    app = create_app(
        gateway_settings(require_workers=False), resonate_factory=_stub_factory(network)
    )
    async with running(app, advertised=False) as client:
        response = await client.get("/v1/jobs?status=failed")
    assert response.status_code == 501 and response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:longhaul:problem:job-list-unavailable"
    assert "prefix" in response.json()["detail"]
    search = next(r for r in network.requests if r["kind"] == "promise.search")
    assert search["data"] == {
        "state": "rejected",
        "tags": {"longhaul:tenant": "default", "longhaul:type": "job"},
        "limit": 50,
    }


async def test_a_failing_server_is_a_bounded_503() -> None:
    app = create_app(
        gateway_settings(require_workers=False), resonate_factory=_stub_factory(StubNetwork(500))
    )
    async with running(app, advertised=False) as client:
        response = await asyncio.wait_for(client.get("/v1/jobs"), 5)
    assert response.status_code == 503
    assert response.json()["type"] == "urn:longhaul:problem:resonate-unavailable"


async def test_the_store_sends_the_cursor_and_filters(gateway: Gateway, monkeypatch) -> None:
    sent: list[tuple[Any, ...]] = []
    sender = gateway.app.state.store._sender
    real = sender.promise_search

    async def spy(*args: Any) -> Any:
        sent.append(args)
        return await real(*args)

    monkeypatch.setattr(sender, "promise_search", spy)
    cursor = encode_cursor("default.job-0")
    await _list(gateway.client, f"?status=timed_out&kind=sleep&limit=7&cursor={cursor}")
    assert sent == [
        (
            "rejected_timedout",
            {"longhaul:tenant": "default", "longhaul:type": "job", "longhaul:kind": "sleep"},
            7,
            "default.job-0",
        )
    ]
