"""The status route parses its own parameters: same documentation, same errors."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import FastAPI, Header, Path, Query, Request
from starlette.datastructures import QueryParams

from services.gateway.edge.direct_route import DirectRoute
from services.gateway.edge.errors import Problem
from services.gateway.jobs.ids import JOB_ID_DESCRIPTION, JOB_ID_PATTERN
from services.gateway.jobs.read_params import (
    IF_NONE_MATCH_DESCRIPTION,
    READ_JOB_PARAMETERS,
    wait_seconds,
)
from tests.gateway.conftest import Gateway

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "query",
    [b"", b"other=1", b"wait=1.5", b"wait=0", b"wait=1&wait=2", b"wait=%33", b"x=y&wait=+4"],
)
def test_wait_is_read_like_starlette_reads_it(query: bytes) -> None:
    # What FastAPI validated when the parameter was declared: Starlette's value, as a float.
    starlette_value = QueryParams(query).get("wait", "0")
    assert wait_seconds(query, max_wait_s=5) == float(starlette_value)


@pytest.mark.parametrize(
    ("query", "slug", "error_type"),
    [
        (b"wait=", "validation-error", "float_parsing"),
        (b"wait=soon", "validation-error", "float_parsing"),
        (b"wait=nan", "validation-error", "float_parsing"),
        (b"wait=-1", "validation-error", "greater_than_equal"),
        (b"wait=5.01", "wait-too-long", "less_than_equal"),
        (b"wait=inf", "wait-too-long", "less_than_equal"),
    ],
)
def test_bad_wait_is_a_422_naming_the_parameter(query: bytes, slug: str, error_type: str) -> None:
    with pytest.raises(Problem) as raised:
        wait_seconds(query, max_wait_s=5)
    problem = raised.value
    assert (problem.status, problem.slug) == (422, slug)
    assert problem.extra["errors"][0]["loc"] == ["query", "wait"]
    assert problem.extra["errors"][0]["type"] == error_type


def test_documented_parameters_are_what_fastapi_would_generate() -> None:
    # The same route with its parameters declared the FastAPI way.
    declared = FastAPI()

    @declared.get("/v1/jobs/{job_id}")
    async def read_job(
        job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, description=JOB_ID_DESCRIPTION)],
        wait: Annotated[float, Query(ge=0, description="Seconds to wait for completion.")] = 0,
        if_none_match: Annotated[
            str | None, Header(alias="If-None-Match", description=IF_NONE_MATCH_DESCRIPTION)
        ] = None,
    ) -> None: ...

    generated = declared.openapi()["paths"]["/v1/jobs/{job_id}"]["get"]["parameters"]
    assert generated == READ_JOB_PARAMETERS


async def test_served_route_documents_its_parameters(gateway: Gateway) -> None:
    spec = (await gateway.client.get("/openapi.json")).json()
    read = spec["paths"]["/v1/jobs/{job_id}"]["get"]
    # Plus the one thing FastAPI could not know: wait's maximum is a setting.
    wait = next(p for p in READ_JOB_PARAMETERS if p["name"] == "wait")
    documented = [
        p if p is not wait else {**wait, "schema": {**wait["schema"], "maximum": 5.0}}
        for p in READ_JOB_PARAMETERS
    ]
    assert read["parameters"] == documented
    assert read["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobView"
    }
    assert {"304", "404", "422", "503"} <= set(read["responses"])


async def test_wait_errors_are_problem_documents(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/jobs/job-x?wait=soon")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:longhaul:problem:validation-error"
    assert body["instance"] == "/v1/jobs/job-x"
    assert body["errors"] == [
        {"loc": ["query", "wait"], "msg": "Input should be a valid number", "type": "float_parsing"}
    ]
    assert body["request_id"] == response.headers["x-request-id"]


def test_direct_route_refuses_an_endpoint_with_declared_parameters() -> None:
    async def declares_a_parameter(request: Request, job_id: str) -> None: ...

    async def takes_no_request() -> None: ...

    for endpoint in (declares_a_parameter, takes_no_request):
        with pytest.raises(TypeError, match="must take only the Request"):
            DirectRoute("/v1/jobs/{job_id}", endpoint, methods=["GET"])
