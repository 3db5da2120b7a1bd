"""GET /v1/kinds and the OpenAPI document against the catalogue's models; kind availability."""

from __future__ import annotations

import pytest
from resonate.timing import now_ms

from services.contract import describe
from services.contract.adverts import advertise
from tests.gateway.conftest import Gateway
from tests.support import (
    catalogue,
    create_app,
    gateway_settings,
    in_process_resonate,
    running,
    worker_deps,
)

pytestmark = pytest.mark.unit


async def test_the_catalogue_lists_every_kind_with_its_schemas(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/kinds")
    assert response.status_code == 200
    listed = {k["name"]: k for k in response.json()["kinds"]}
    kinds = catalogue()
    assert list(listed) == kinds.names
    for kind in kinds:
        body = listed[kind.name]
        assert body["input_schema"] == kind.input_model.model_json_schema()
        assert body["summary"] == kind.summary and body["timeout_s"] == kind.timeout_s
        assert body["retry"] == {
            "max_attempts": kind.retry.max_attempts,
            "initial_s": kind.retry.initial_s,
            "factor": kind.retry.factor,
            "max_s": kind.retry.max_s,
        }
        assert body["available"] is True
        if kind.output_model is None:
            assert "output_schema" not in body
        else:
            assert body["output_schema"] == kind.output_model.model_json_schema(
                mode="serialization"
            )
        assert body == {**describe(kind), "available": True}
    one = await gateway.client.get("/v1/kinds/invoice")
    assert one.status_code == 200 and one.json() == listed["invoice"]
    assert listed["invoice"]["retry"]["max_attempts"] == 5


async def test_an_unknown_kind_is_a_404_problem(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/kinds/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:longhaul:problem:kind-not-found"


async def test_openapi_describes_each_kinds_input(gateway: Gateway) -> None:
    document = (await gateway.client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    body = document["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    refs = [variant["$ref"] for variant in body["schema"]["oneOf"]]
    assert refs == [f"#/components/schemas/{k}.JobRequest" for k in catalogue().names]
    request = schemas["invoice.JobRequest"]
    assert request["properties"]["kind"] == {"type": "string", "const": "invoice"}
    assert request["properties"]["input"] == {"$ref": "#/components/schemas/invoice.Input"}
    # Nested models become components of their own, and the refs resolve.
    assert schemas["invoice.Input"]["properties"]["lines"]["items"] == {
        "$ref": "#/components/schemas/invoice.Line"
    }
    assert "sku" in schemas["invoice.Line"]["properties"]
    assert schemas["sleep.Input"]["properties"]["seconds"]["maximum"] == 3600
    assert "/v1/kinds" in document["paths"] and "/v1/kinds/{name}" in document["paths"]


async def test_a_kind_no_worker_advertised_is_refused_not_left_waiting() -> None:
    kinds = catalogue()
    app = create_app(
        gateway_settings(), resonate_factory=in_process_resonate(worker_deps(), kinds),
        catalogue=kinds,
    )  # fmt: skip
    async with running(app, advertised=False) as client:
        response = await client.post("/v1/jobs", json={"kind": "echo", "input": {}})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        body = response.json()
        assert body["type"] == "urn:longhaul:problem:kind-unavailable"
        assert "'services.kinds.builtin'" in body["detail"] and body["kind"] == "echo"
        listed = (await client.get("/v1/kinds/echo")).json()
        assert listed["available"] is False

        # A worker with the same definition starts: accepted once the recheck is due.
        await advertise(app.state.resonate.promises, kinds, "late-worker", now_ms())
        app.state.kinds._recheck_s = 0
        response = await client.post("/v1/jobs", json={"kind": "echo", "input": {}})
        assert response.status_code == 202


async def test_the_default_kind_must_be_in_the_catalogue() -> None:
    from services.contract import CatalogueError

    with pytest.raises(CatalogueError, match="LONGHAUL_DEFAULT_KIND 'nope'"):
        create_app(gateway_settings(default_kind="nope"))
