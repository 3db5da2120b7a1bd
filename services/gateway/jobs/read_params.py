"""The status route's parameters: parsed by hand, documented for OpenAPI.

``GET /v1/jobs/{job_id}`` is the route clients poll; it reads its path and
query parameters itself instead of declaring them to FastAPI (see
``routes/jobs.py``). The OpenAPI entries and the errors below are what
FastAPI produced when they were declared, so clients see no difference
(``openapi_doc.py`` adds wait's maximum, which is a setting). The job id
needs no check here: the route's path convertor (``ids.py``) did it.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qsl

from services.gateway.edge.errors import Problem
from services.gateway.jobs.ids import JOB_ID_DESCRIPTION, JOB_ID_PATTERN

_WAIT_DESCRIPTION = "Seconds to wait for completion."
IF_NONE_MATCH_DESCRIPTION = (
    "ETags of views the client holds (or *): a finished job whose view matches answers 304."
)

READ_JOB_PARAMETERS: list[dict[str, Any]] = [
    {
        "description": JOB_ID_DESCRIPTION,
        "in": "path",
        "name": "job_id",
        "required": True,
        "schema": {
            "description": JOB_ID_DESCRIPTION,
            "pattern": JOB_ID_PATTERN,
            "title": "Job Id",
            "type": "string",
        },
    },
    {
        "description": _WAIT_DESCRIPTION,
        "in": "query",
        "name": "wait",
        "required": False,
        "schema": {
            "default": 0,
            "description": _WAIT_DESCRIPTION,
            "minimum": 0,
            "title": "Wait",
            "type": "number",
        },
    },
    {
        "description": IF_NONE_MATCH_DESCRIPTION,
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "schema": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": IF_NONE_MATCH_DESCRIPTION,
            "title": "If-None-Match",
        },
    },
]

#: The conditional answer of the read route (docs/long-polling.md).
NOT_MODIFIED_RESPONSE: dict[str, Any] = {
    "description": "Not Modified: If-None-Match names the job's current view (no body).",
    "headers": {
        "ETag": {"schema": {"type": "string"}, "description": "The view's strong ETag."},
    },
}


def wait_seconds(query_string: bytes, max_wait_s: float) -> float:
    """``?wait=`` in seconds (0 when absent); a 422 problem when it is not 0..max."""
    if not query_string:
        return 0.0
    # Starlette's reading of a query string: latin-1 bytes, %-escapes as UTF-8,
    # the last of repeated keys.
    raw = None
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == "wait":
            raw = value
    if raw is None:
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        wait = math.nan
    if math.isnan(wait):
        raise _invalid("float_parsing", "Input should be a valid number")
    if wait < 0:
        raise _invalid("greater_than_equal", "Input should be greater than or equal to 0")
    if wait > max_wait_s:
        raise Problem(
            422,
            "wait-too-long",
            "wait is too long",
            f"wait must be at most {max_wait_s:g} seconds.",
            errors=[{"loc": ["query", "wait"], "msg": "too large", "type": "less_than_equal"}],
        )
    return wait


def _invalid(error_type: str, message: str) -> Problem:
    return Problem(
        422,
        "validation-error",
        "Invalid request",
        "The request does not match the schema.",
        errors=[{"loc": ["query", "wait"], "msg": message, "type": error_type}],
    )
