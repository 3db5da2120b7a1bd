"""Hostile input through the app: every client mistake is a 4xx problem with X-Request-ID.

Each class of the issue's findings has a test here; "old:" says what the
gateway answered before.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from resonate.resonate import Resonate
from starlette.routing import Route

from services.contract import BUILTIN_MODULE, fingerprint, load_catalogue
from services.gateway.auth.tenancy import job_id_for_key, new_job_id
from services.gateway.edge.errors import Problem
from services.gateway.edge.json_body import JsonBodyRoute, decode_body
from services.gateway.edge.middleware import RequestContext
from services.gateway.jobs.fingerprints import request_fingerprint
from services.gateway.jobs.ids import JOB_ID_PATTERN, JobIdConvertor
from services.gateway.jobs.schemas import CLIENT_ID_PATTERN
from services.gateway.settings import GatewaySettings
from tests.gateway.conftest import Gateway
from tests.gateway.test_dependency_failures import StubNetwork
from tests.support import (
    create_app,
    gateway_settings,
    in_process_resonate,
    json_logging,
    running,
    worker_deps,
)

pytestmark = pytest.mark.unit

#: The built-in sleep kind's deadline for a job submitted without timeout_s.
SLEEP_TIMEOUT_S = load_catalogue([BUILTIN_MODULE]).get("sleep").timeout_s

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    if slug is not None:
        assert body["type"] == f"urn:longhaul:problem:{slug}"
    return body


def post_raw(gateway: Gateway, body: bytes, path: str = "/v1/jobs", **headers: str):
    return gateway.client.post(
        path, content=body, headers={"content-type": "application/json", **headers}
    )


# --- Job ids: 404 at the edge, never a call to the Resonate server -----------


BAD_IDS = [
    "%0A",  # old: 500 without X-Request-ID (a newline in the id)
    "%00",
    "a%20b",
    "a%7Fb",
    "%C3%A9",
    "a" * 129,
    "a" * 9000,  # old: 503 job store unavailable, with Retry-After
    "job:1",
]


@pytest.mark.parametrize("job_id", BAD_IDS)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_an_id_outside_the_pattern_is_404_before_any_resonate_call(
    method: str, job_id: str
) -> None:
    network = StubNetwork(500)

    def factory(_settings: GatewaySettings) -> Resonate:
        return Resonate(network=network, sources=[], env={}, subscription_refresh_secs=0)

    app = create_app(gateway_settings(), resonate_factory=factory)
    async with running(app, advertised=False) as client:
        response = await client.request(method, f"/v1/jobs/{job_id}")
    assert_problem(response, 404)
    assert "retry-after" not in response.headers
    assert network.requests == []


def test_every_id_the_gateway_makes_or_accepts_matches_the_pattern() -> None:
    import re

    pattern = re.compile(JOB_ID_PATTERN)
    tenant = "t" * 32  # the longest tenant name
    for job_id in (job_id_for_key(b"s" * 32, tenant, "k" * 255), new_job_id(tenant)):
        assert pattern.match(job_id), job_id
    # /begin?id=X is the promise <tenant>.X, readable as a job: it must fit the pattern.
    longest_client_id = "c" * 128
    assert re.match(CLIENT_ID_PATTERN, longest_client_id)
    assert not re.match(CLIENT_ID_PATTERN, longest_client_id + "c")
    assert pattern.match(f"{tenant}.{longest_client_id}")
    assert re.fullmatch(JobIdConvertor.regex, "a" * 161)
    assert not re.fullmatch(JobIdConvertor.regex, "a" * 162)


def test_every_route_with_a_job_id_checks_it_in_its_path() -> None:
    app = create_app(gateway_settings(), resonate_factory=in_process_resonate(worker_deps()))
    routes = [r for r in app.routes if isinstance(r, Route) and "job_id" in r.param_convertors]
    assert routes
    for route in routes:
        assert isinstance(route.param_convertors["job_id"], JobIdConvertor), route.path


# --- An unhandled error: a 500 problem with the id, one line, connection kept ---


async def test_an_unhandled_error_is_a_500_problem_with_the_request_id() -> None:
    # old: Starlette's last-resort handler answered outside RequestContext (no
    # X-Request-ID) and re-raised, so the server closed the connection.
    app = create_app(gateway_settings(), resonate_factory=in_process_resonate(worker_deps()))

    async def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/explode", explode)
    stream = io.StringIO()
    with json_logging("gateway", stream) as lines:
        async with app.router.lifespan_context(app):
            # raise_app_exceptions: an exception escaping the app fails the test.
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://g") as client:
                response = await client.get("/explode")
    body = assert_problem(response, 500, "internal-error")
    assert "boom" not in response.text
    errors = [line for line in lines() if line["event"] == "unhandled error"]
    assert len(errors) == 1 and errors[0]["request_id"] == body["request_id"]
    assert "RuntimeError: boom" in errors[0]["exception"]
    access = [line for line in lines() if line["event"] == "request"]
    assert [(a["status"], a["request_id"]) for a in access] == [(500, body["request_id"])]


def test_request_context_wraps_every_other_middleware() -> None:
    app = create_app(gateway_settings(), resonate_factory=in_process_resonate(worker_deps()))
    assert app.user_middleware[0].cls is RequestContext
    # Starlette's handler for Exception runs outside RequestContext: there is none.
    assert Exception not in app.exception_handlers and 500 not in app.exception_handlers


# --- JSON bodies ------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    # old: 202, the value stored as NaN/inf and read back as null
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1" * 5000],
)
async def test_a_non_finite_or_out_of_range_number_is_422(literal: str) -> None:
    app = create_app(
        gateway_settings(max_body_bytes=65536), resonate_factory=in_process_resonate(worker_deps())
    )
    headers = {"content-type": "application/json"}
    async with running(app) as client:
        for path, body in (
            ("/v1/jobs", f'{{"kind":"echo","input":{{"a":{literal}}}}}'),
            ("/v1/jobs", f'{{"kind":"sleep","input":{{"seconds":1}},"timeout_s":{literal}}}'),
            ("/begin?id=nan-1", f'{{"v":[{literal}]}}'),
        ):
            response = await client.post(path, content=body.encode(), headers=headers)
            assert_problem(response, 422, "number-out-of-range")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        # old: 500 (the fingerprint could not encode it), no X-Request-ID
        (rb'{"kind":"echo","input":{"a":"\ud800"}}', ["body", "input", "a"]),
        (rb'{"kind":"echo","input":{"a":["x","\udfff"]}}', ["body", "input", "a", "1"]),
        (rb'{"kind":"echo","input":{"\ud800":1}}', ["body", "input", "\\ud800"]),
        (rb'{"kind":"\ud83d","input":{}}', ["body", "kind"]),
    ],
)
async def test_a_lone_surrogate_is_422_naming_where(
    gateway: Gateway, body: bytes, loc: list[str]
) -> None:
    problem = assert_problem(await post_raw(gateway, body), 422, "invalid-string")
    assert problem["errors"][0]["loc"] == loc


async def test_a_surrogate_pair_is_text(gateway: Gateway) -> None:
    response = await post_raw(gateway, rb'{"kind":"echo","input":{"a":"\ud83d\ude00"}}')
    assert response.status_code == 202
    done = await gateway.client.get(response.headers["location"], params={"wait": 5})
    assert done.json()["result"] == {"a": "\N{GRINNING FACE}"}


def nested(depth: int) -> bytes:
    """A body whose input nests arrays so the whole document is ``depth`` deep."""
    inner = depth - 2  # the body object and the input object
    return b'{"kind":"echo","input":{"a":' + b"[" * inner + b"]" * inner + b"}}"


@pytest.mark.parametrize("depth", [65, 256, 300, 1000, 1500, 100_000])
async def test_nesting_past_the_limit_is_422(depth: int) -> None:
    # old: 256-~1,500 levels were a 500 (pydantic's serializer), deeper a bare 400.
    app = create_app(
        gateway_settings(max_body_bytes=1_048_576),
        resonate_factory=in_process_resonate(worker_deps()),
    )
    async with running(app) as client:
        response = await client.post(
            "/v1/jobs", content=nested(depth), headers={"content-type": "application/json"}
        )
    assert_problem(response, 422, "json-too-deep")


@pytest.mark.parametrize("max_depth", [64, 200])
async def test_nesting_up_to_the_limit_runs(max_depth: int) -> None:
    # The setting's maximum (200) stays clear of every limit behind the gateway.
    app = create_app(
        gateway_settings(max_json_depth=max_depth),
        resonate_factory=in_process_resonate(worker_deps()),
    )
    async with running(app) as client:
        headers = {"content-type": "application/json"}
        accepted = await client.post("/v1/jobs", content=nested(max_depth), headers=headers)
        assert accepted.status_code == 202, accepted.text
        done = await client.get(accepted.headers["location"], params={"wait": 5})
        assert done.json()["status"] == "succeeded"
        too_deep = await client.post("/v1/jobs", content=nested(max_depth + 1), headers=headers)
    assert_problem(too_deep, 422, "json-too-deep")


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind":"echo",',
        b"\xff\xfe{}",
        '{"kind":"echo","input":{}}'.encode("utf-16"),
        b'\xef\xbb\xbf{"kind":"echo","input":{}}',
        b'{"kind":"echo","input":{"a":"\x01"}}',
    ],
)
async def test_malformed_json_is_400(gateway: Gateway, body: bytes) -> None:
    assert_problem(await post_raw(gateway, body), 400, "malformed-json")


def test_decode_body_reads_valid_json_like_the_standard_library() -> None:
    text = '{"a":[1,1.5,-0.0,1e300,"\\u00e9\\ud83d\\ude00",null,true],"b":{"c":{}},"n":' + (
        "9" * 400 + "}"
    )
    assert decode_body(text.encode(), max_depth=64) == json.loads(text)


def test_every_route_that_takes_a_body_reads_it_strictly() -> None:
    app = create_app(gateway_settings(), resonate_factory=in_process_resonate(worker_deps()))
    with_body = [r for r in app.routes if isinstance(r, APIRoute) and r.body_field is not None]
    assert {r.path for r in with_body} >= {"/v1/jobs", "/begin"}
    for route in with_body:
        assert isinstance(route, JsonBodyRoute), route.path


# --- 413 --------------------------------------------------------------------


async def test_both_413s_are_the_same_problem(gateway: Gateway) -> None:
    big = b'{"kind":"echo","input":{"a":"' + b"x" * 5000 + b'"}}'
    declared = await post_raw(gateway, big)

    async def stream():
        yield big[:3000]
        yield big[3000:]

    streamed = await gateway.client.post(
        "/v1/jobs", content=stream(), headers={"content-type": "application/json"}
    )
    first, second = assert_problem(declared, 413), assert_problem(streamed, 413)
    for body in (first, second):
        body.pop("request_id")
    # old: "Request body too large" by Content-Length, "Content Too Large" streamed
    assert first == second


async def test_a_413_whose_body_was_not_read_closes_the_connection() -> None:
    app = create_app(
        gateway_settings(body_drain_bytes=0), resonate_factory=in_process_resonate(worker_deps())
    )
    async with running(app) as client:
        response = await client.post("/v1/jobs", content=b"x" * 5000)
    assert_problem(response, 413)
    assert response.headers["connection"] == "close"


# --- Idempotency fingerprint ------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"kind": "echo", "input": {"n": 1}}, {"kind": "echo", "input": {"n": 1.0}}),
        ({"kind": "echo", "input": {"n": [0, 2]}}, {"kind": "echo", "input": {"n": [-0.0, 2.0]}}),
        (
            {"kind": "sleep", "input": {"seconds": 5}},
            {"kind": "sleep", "input": {"seconds": 5}, "timeout_s": SLEEP_TIMEOUT_S},
        ),
        (
            {"kind": "echo", "input": {}, "timeout_s": 60},
            {"kind": "echo", "input": {}, "timeout_s": 60.0},
        ),
    ],
)
async def test_requests_that_mean_the_same_are_one_job(
    gateway: Gateway, first: dict[str, Any], second: dict[str, Any]
) -> None:
    # old: 422 idempotency-key-reused for each second request
    headers = {"Idempotency-Key": "same-meaning"}
    created = await gateway.client.post("/v1/jobs", json=first, headers=headers)
    replayed = await gateway.client.post("/v1/jobs", json=second, headers=headers)
    assert created.status_code == 202 and replayed.status_code == 202, replayed.text
    assert replayed.json()["id"] == created.json()["id"]
    assert replayed.headers["idempotent-replayed"] == "true"


def test_the_fingerprint_still_tells_different_requests_apart() -> None:
    def digest(input: Any, timeout: float | None = None, kind: str = "echo") -> str:
        return request_fingerprint(kind, input, timeout, SLEEP_TIMEOUT_S)

    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    assert digest({"a": 1}) != digest({"a": 1.5})
    assert digest({"a": 1}) != digest({"a": "1"})
    assert digest({"a": 1}) != digest({"a": True})
    assert digest({"a": 2**60 + 1}) != digest({"a": float(2**60 + 1)})
    assert digest({}, 60) != digest({})
    assert digest({}) != digest({}, kind="sleep")


async def test_a_job_fingerprinted_the_older_way_still_replays(gateway: Gateway) -> None:
    # A job created by a gateway before the canonical fingerprint: same key and
    # request again after the upgrade must replay, not be refused.
    store = gateway.app.state.store
    job_id = job_id_for_key(gateway.app.state.settings.id_key, "default", "before-upgrade")
    legacy = fingerprint("sleep", {"seconds": 5.0}, None)
    sleep = gateway.app.state.catalogue.get("sleep")
    await store.submit(job_id, sleep, {"seconds": 5.0}, timeout_s=None, fingerprint=legacy)
    replayed = await gateway.client.post(
        "/v1/jobs",
        json={"kind": "sleep", "input": {"seconds": 5}},
        headers={"Idempotency-Key": "before-upgrade"},
    )
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["id"] == job_id


# --- Methods and the OpenAPI document --------------------------------------


@pytest.mark.parametrize(
    ("path", "methods"),
    [("/v1/jobs/job-1", "DELETE, GET, OPTIONS"), ("/v1/jobs", "GET, OPTIONS, POST")],
)
async def test_options_and_405_list_every_method_of_the_path(
    gateway: Gateway, path: str, methods: str
) -> None:
    # old: OPTIONS was a 405, and both said only the first matching route's method
    options = await gateway.client.options(path)
    assert options.status_code == 204 and options.headers["allow"] == methods
    assert options.headers["x-request-id"]
    refused = await gateway.client.put(path)
    assert_problem(refused, 405, "method-not-allowed")
    assert refused.headers["allow"] == methods


async def test_the_document_says_what_the_gateway_answers(gateway: Gateway) -> None:
    spec = (await gateway.client.get("/openapi.json")).json()
    wait = next(
        p for p in spec["paths"]["/v1/jobs/{job_id}"]["get"]["parameters"] if p["name"] == "wait"
    )
    assert wait["schema"]["maximum"] == gateway.app.state.settings.max_wait_s
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    assert list(response["content"]) == [PROBLEM], (method, path, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_settings_refuse_a_url_limit_past_the_header_limit() -> None:
    with pytest.raises(ValueError, match="LONGHAUL_MAX_URL_BYTES"):
        gateway_settings(max_url_bytes=65536, max_header_bytes=32768)


def test_problem_bodies_are_what_they_were() -> None:
    # BodyProblem changed nothing in how a Problem renders.
    problem = Problem(404, "job-not-found", "Job not found", "x")
    assert problem.body("/v1/jobs/a", "rid") == {
        "type": "urn:longhaul:problem:job-not-found",
        "title": "Job not found",
        "status": 404,
        "instance": "/v1/jobs/a",
        "detail": "x",
        "request_id": "rid",
    }
