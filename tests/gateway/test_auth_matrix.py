"""Every job route x every kind of caller: exact statuses, and tenants that cannot see each other.

Fails on the code before authentication: there every call below got a 2xx or
a 404 whatever its credentials, and tenant B read and cancelled A's job.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.gateway.conftest import AuthGateway
from tests.support import counter

pytestmark = pytest.mark.unit

PROBLEM = "application/problem+json"
ECHO = {"kind": "echo", "input": {"owner": "acme"}}
SLEEP = {"kind": "sleep", "input": {"seconds": 60}}


async def _call(gw: AuthGateway, route: str, headers: dict[str, str], job_id: str):
    c = gw.client
    if route == "submit":
        return await c.post("/v1/jobs", json=ECHO, headers=headers)
    if route == "read":
        return await c.get(f"/v1/jobs/{job_id}", headers=headers)
    if route == "long-poll":
        return await c.get(f"/v1/jobs/{job_id}?wait=0.2", headers=headers)
    if route == "cancel":
        return await c.delete(f"/v1/jobs/{job_id}", headers=headers)
    if route == "begin":
        return await c.post("/begin?id=compat-1", json={"n": 1}, headers=headers)
    if route == "wait":
        return await c.get("/wait?id=compat-a", headers=headers)
    if route == "list":
        return await c.get("/v1/jobs?status=pending", headers=headers)
    raise AssertionError(route)


ROUTES = ["submit", "read", "long-poll", "cancel", "begin", "wait", "list"]
SCOPE_OF = {
    "submit": "a_read",  # a read-only key may not submit
    "begin": "a_read",
    "read": "a_submit",  # a submit-only key may not read
    "long-poll": "a_submit",
    "wait": "a_submit",
    "cancel": "a_read",
    "list": "a_submit",
}
#: What tenant A (the owner) and tenant B get on A's job.
OWNER_STATUS = {
    "submit": 202,
    "read": 200,
    "long-poll": 200,
    "cancel": 200,
    "begin": 200,
    "list": 200,
}
OTHER_STATUS = {
    "submit": 202,
    "read": 404,
    "long-poll": 404,
    "cancel": 404,
    "begin": 200,
    "list": 200,
}


@pytest.fixture
async def a_job(auth_gateway: AuthGateway) -> str:
    """A pending job of tenant A (acme), and A's compatibility promise 'compat-a'."""
    submitted = await auth_gateway.client.post(
        "/v1/jobs", json=SLEEP, headers=auth_gateway.auth("a")
    )
    assert submitted.status_code == 202
    begun = await auth_gateway.client.post(
        "/begin?id=compat-a", json={"n": 0}, headers=auth_gateway.auth("a")
    )
    assert begun.status_code == 200
    return submitted.json()["id"]


def _bad_headers(gw: AuthGateway, caller: str) -> dict[str, str]:
    key_a = gw.keys["a"]
    return {
        "none": {},
        "not-bearer": {"Authorization": f"Basic {key_a}"},
        "garbage": {"Authorization": "Bearer not-a-key-or-a-jwt"},
        "bad-secret": {"Authorization": f"Bearer {key_a[:-4]}AAAA"},
        "unknown-id": {"Authorization": "Bearer lh_nosuchkey_" + "x" * 43},
        "revoked": gw.auth("revoked"),
    }[caller]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("caller", "reason"),
    [
        ("none", "missing"),
        ("not-bearer", "malformed"),
        ("garbage", "malformed"),
        ("bad-secret", "bad_key"),
        ("unknown-id", "unknown_key"),
        ("revoked", "unknown_key"),
    ],
)
async def test_no_or_bad_credentials_are_401(
    auth_gateway: AuthGateway, a_job: str, route: str, caller: str, reason: str
) -> None:
    metrics = auth_gateway.app.state.metrics
    before = counter(metrics, "longhaul_gateway_auth_failures_total", reason=reason)
    response = await _call(auth_gateway, route, _bad_headers(auth_gateway, caller), a_job)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:longhaul:problem:unauthorized"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="longhaul"')
    assert ('error="invalid_token"' in challenge) == (caller != "none")
    assert counter(metrics, "longhaul_gateway_auth_failures_total", reason=reason) == before + 1
    # The job is untouched.
    read = await auth_gateway.client.get(f"/v1/jobs/{a_job}", headers=auth_gateway.auth("a"))
    assert read.json()["status"] == "pending"


@pytest.mark.parametrize("route", ROUTES)
async def test_missing_scope_is_403(auth_gateway: AuthGateway, a_job: str, route: str) -> None:
    metrics = auth_gateway.app.state.metrics
    before = counter(metrics, "longhaul_gateway_auth_failures_total", reason="forbidden_scope")
    response = await _call(auth_gateway, route, auth_gateway.auth(SCOPE_OF[route]), a_job)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    after = counter(metrics, "longhaul_gateway_auth_failures_total", reason="forbidden_scope")
    assert after == before + 1


@pytest.mark.parametrize("route", ROUTES)
async def test_owner_and_other_tenant(auth_gateway: AuthGateway, a_job: str, route: str) -> None:
    if route == "wait":
        owner = await _call(auth_gateway, route, auth_gateway.auth("a"), a_job)
        other = await _call(auth_gateway, route, auth_gateway.auth("b"), a_job)
        assert owner.status_code == 200 and owner.json()["promise_id"] == "compat-a"
        assert other.status_code == 404
        return
    other = await _call(auth_gateway, route, auth_gateway.auth("b"), a_job)
    assert other.status_code == OTHER_STATUS[route], other.text
    owner = await _call(auth_gateway, route, auth_gateway.auth("a"), a_job)
    assert owner.status_code == OWNER_STATUS[route], owner.text
    if route == "cancel":
        assert owner.json()["status"] == "canceled"  # B's cancel did nothing
    if route == "submit":
        assert other.json()["id"].startswith("globex.") and owner.json()["id"].startswith("acme.")
    if route == "list":  # B's list does not hold A's job; A's does
        assert a_job not in {job["id"] for job in other.json()["jobs"]}
        assert a_job in {job["id"] for job in owner.json()["jobs"]}


async def test_another_tenants_job_is_exactly_an_unknown_id(
    auth_gateway: AuthGateway, a_job: str
) -> None:
    unknown = "globex.job-" + "0" * 32
    for method in ("GET", "DELETE"):
        theirs = await auth_gateway.client.request(
            method, f"/v1/jobs/{a_job}", headers=auth_gateway.auth("b")
        )
        missing = await auth_gateway.client.request(
            method, f"/v1/jobs/{unknown}", headers=auth_gateway.auth("b")
        )
        assert theirs.status_code == missing.status_code == 404
        strip = {"detail", "instance", "request_id"}
        assert {k: v for k, v in theirs.json().items() if k not in strip} == {
            k: v for k, v in missing.json().items() if k not in strip
        }
        assert theirs.json()["detail"] == f"No job with id {a_job!r}."
    # An id of no tenant's form is unknown too.
    bare = await auth_gateway.client.get("/v1/jobs/job-123", headers=auth_gateway.auth("a"))
    assert bare.status_code == 404


async def test_same_idempotency_key_in_two_tenants_is_two_jobs(auth_gateway: AuthGateway) -> None:
    headers = {"Idempotency-Key": "order-1"}
    a = await auth_gateway.client.post(
        "/v1/jobs", json=ECHO, headers={**headers, **auth_gateway.auth("a")}
    )
    b = await auth_gateway.client.post(
        "/v1/jobs",
        json={"kind": "echo", "input": {"owner": "globex"}},
        headers={**headers, **auth_gateway.auth("b")},
    )
    assert a.status_code == b.status_code == 202
    assert "idempotent-replayed" not in b.headers  # not A's job replayed to B
    a_id, b_id = a.json()["id"], b.json()["id"]
    assert a_id.startswith("acme.job-") and b_id.startswith("globex.job-")
    assert a_id.removeprefix("acme.") != b_id.removeprefix("globex.")
    for key, job_id, owner in (("a", a_id, "acme"), ("b", b_id, "globex")):
        done = await auth_gateway.client.get(
            f"/v1/jobs/{job_id}?wait=5", headers=auth_gateway.auth(key)
        )
        assert done.json()["result"] == {"owner": owner}
    # Replaying A's key and body in A is A's job; in B it is B's own.
    again = await auth_gateway.client.post(
        "/v1/jobs", json=ECHO, headers={**headers, **auth_gateway.auth("a")}
    )
    assert again.json()["id"] == a_id and again.headers["idempotent-replayed"] == "true"
    await asyncio.sleep(0.1)
    started = counter(
        auth_gateway.deps.metrics, "longhaul_worker_executions_started_total", kind="echo"
    )
    assert started == 2


async def test_begin_ids_are_per_tenant(auth_gateway: AuthGateway) -> None:
    a = await auth_gateway.client.post(
        "/begin?id=shared", json={"n": 1}, headers=auth_gateway.auth("a")
    )
    b = await auth_gateway.client.post(
        "/begin?id=shared", json={"n": 2}, headers=auth_gateway.auth("b")
    )
    assert a.status_code == b.status_code == 200  # B's different data is no idempotency clash
    for key, n in (("a", 1), ("b", 2)):
        for _ in range(50):
            body = (
                await auth_gateway.client.get("/wait?id=shared", headers=auth_gateway.auth(key))
            ).json()
            if body["status"] != "pending":
                break
            await asyncio.sleep(0.05)
        assert body == {"status": "resolved", "promise_id": "shared", "result": {"n": n}}
    # The v1 view of a compatibility promise is <tenant>.<id>, for its tenant only.
    assert (
        await auth_gateway.client.get("/v1/jobs/acme.shared", headers=auth_gateway.auth("a"))
    ).status_code == 200
    assert (
        await auth_gateway.client.get("/v1/jobs/acme.shared", headers=auth_gateway.auth("b"))
    ).status_code == 404


async def test_job_ids_cannot_be_computed_from_the_key(auth_gateway: AuthGateway) -> None:
    import hashlib

    response = await auth_gateway.client.post(
        "/v1/jobs", json=ECHO, headers={"Idempotency-Key": "guessable", **auth_gateway.auth("a")}
    )
    job_id = response.json()["id"]
    old_scheme = "job-" + hashlib.sha256(b"guessable").hexdigest()[:32]
    assert job_id != old_scheme and not job_id.endswith(old_scheme)
    # keyed with the server-side secret: another secret gives another id
    from services.gateway.auth.tenancy import job_id_for_key
    from tests.gateway.conftest import ID_SECRET

    assert job_id == job_id_for_key(ID_SECRET.encode(), "acme", "guessable")
    assert job_id != job_id_for_key(b"x" * 32, "acme", "guessable")


async def test_public_routes_need_no_credentials(auth_gateway: AuthGateway) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert (await auth_gateway.client.get(path)).status_code == 200, path
    # Anything else is closed by default, known route or not; the catalogue takes any key.
    assert (await auth_gateway.client.get("/v1/anything")).status_code == 401
    assert (await auth_gateway.client.get("/v1/kinds")).status_code == 401
    kinds = await auth_gateway.client.get("/v1/kinds", headers=auth_gateway.auth("a_read"))
    assert kinds.status_code == 200


async def test_openapi_declares_the_security_schemes(auth_gateway: AuthGateway) -> None:
    spec = (await auth_gateway.client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert "OIDC" not in spec["components"]["securitySchemes"]  # not configured here
    for path, method in [
        ("/v1/jobs", "post"),
        ("/v1/jobs/{job_id}", "get"),
        ("/v1/jobs/{job_id}", "delete"),
        ("/begin", "post"),
        ("/wait", "get"),
        ("/v1/jobs", "get"),
    ]:
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"ApiKey": []}], (path, method)
        assert {"401", "403"} <= set(operation["responses"]), (path, method)
    assert "security" not in spec["paths"]["/healthz"]["get"]
    # Routes that declare nothing are closed by default, and documented so.
    assert spec["paths"]["/v1/kinds"]["get"]["security"] == [{"ApiKey": []}]


async def test_audit_line_per_submit_and_cancel_never_the_key(auth_gateway: AuthGateway) -> None:
    import io

    from tests.support import json_logging

    stream = io.StringIO()
    with json_logging("gateway", stream) as lines:
        job = await auth_gateway.client.post("/v1/jobs", json=SLEEP, headers=auth_gateway.auth("a"))
        await auth_gateway.client.delete(
            f"/v1/jobs/{job.json()['id']}", headers=auth_gateway.auth("a")
        )
        await auth_gateway.client.delete(
            f"/v1/jobs/{job.json()['id']}", headers=auth_gateway.auth("b")
        )
        audits = [line for line in lines() if line["event"] == "audit"]
    assert [(a["action"], a["tenant"], a["key_id"], a["outcome"]) for a in audits] == [
        ("job.submit", "acme", "a", "created"),
        ("job.cancel", "acme", "a", "canceled"),
        ("job.cancel", "globex", "b", "job-not-found"),
    ]
    assert all(a["job_id"] == job.json()["id"] for a in audits)
    text = stream.getvalue()
    for key in auth_gateway.keys.values():
        assert key not in text and key.rsplit("_", 1)[1] not in text
