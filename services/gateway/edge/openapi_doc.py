"""The OpenAPI document says what the gateway does: limits from settings, problem+json errors.

FastAPI documents every error response as ``application/json`` (with its own
validation-error schema for 422s) and cannot know limits that are settings.
Clients and schemathesis read the document as the contract, so it is finished
here, once per generated schema:

- ``wait``'s maximum is ``LONGHAUL_MAX_WAIT_S``;
- every 4xx and 5xx response is ``application/problem+json`` with ``ProblemBody``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from services.gateway.settings import GatewaySettings

PROBLEM_JSON = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemBody"}
#: FastAPI's own 422 schemas, unused once every 422 is a problem document.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def finish_openapi(app: FastAPI, settings: GatewaySettings) -> None:
    """Wrap ``app.openapi`` (whatever it is by now) so the schema it returns is finished."""
    generate = app.openapi
    finished: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()
        if not finished or finished[0] is not schema:
            _finish(schema, settings)
            finished[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _finish(schema: dict[str, Any], settings: GatewaySettings) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "query" and parameter["name"] == "wait":
                    parameter["schema"]["maximum"] = settings.max_wait_s
            for status, response in operation.get("responses", {}).items():
                if status[:1] in ("4", "5"):
                    response["content"] = {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}}
    components = schema.get("components", {}).get("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if f'"#/components/schemas/{name}"' not in json.dumps(schema):
            components.pop(name, None)
