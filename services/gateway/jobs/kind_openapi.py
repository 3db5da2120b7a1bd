"""Each kind's input in ``/openapi.json``: ``POST /v1/jobs`` takes one of the kinds.

FastAPI documents ``JobRequest.input`` as any object; the catalogue is only
known at boot, so the generated document is completed once, on first use:
every kind's input model becomes a component (``<kind>.Input``, its nested
models ``<kind>.<Model>``) and the request body becomes a ``oneOf`` of one
request per kind, told apart by ``kind``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.contract.catalogue import Catalogue

JOBS_PATH = "/v1/jobs"


def _component(name: str) -> str:
    return f"#/components/schemas/{name}"


def kind_components(catalogue: Catalogue, timeout_schema: dict[str, Any]) -> dict[str, Any]:
    """Components for every kind's input and request, keyed by component name."""
    components: dict[str, Any] = {}
    for kind in catalogue:
        prefix = f"{kind.name}."
        schema = kind.input_model.model_json_schema(ref_template=_component(prefix) + "{model}")
        for name, definition in schema.pop("$defs", {}).items():
            components[prefix + name] = definition
        components[f"{prefix}Input"] = schema
        components[f"{prefix}JobRequest"] = {
            "title": f"JobRequest ({kind.name})",
            "description": kind.summary,
            "type": "object",
            "additionalProperties": False,
            "required": ["kind", "input"],
            "properties": {
                "kind": {"type": "string", "const": kind.name},
                "input": {"$ref": _component(f"{prefix}Input")},
                "timeout_s": timeout_schema,
            },
        }
    return components


def describe_kinds_in_openapi(app: FastAPI, catalogue: Catalogue) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        timeout = schemas.get("JobRequest", {}).get("properties", {}).get("timeout_s", {})
        schemas.update(kind_components(catalogue, timeout))
        body = schema["paths"][JOBS_PATH]["post"]["requestBody"]["content"]["application/json"]
        body["schema"] = {
            "oneOf": [{"$ref": _component(f"{k.name}.JobRequest")} for k in catalogue],
            "discriminator": {
                "propertyName": "kind",
                "mapping": {k.name: _component(f"{k.name}.JobRequest") for k in catalogue},
            },
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
