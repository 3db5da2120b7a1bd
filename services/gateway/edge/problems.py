"""Render every error as RFC 9457 problem+json; never a bare 500 page."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from services.gateway.edge.allow import allowed_methods, options_response
from services.gateway.edge.errors import Problem, ResonateUnavailable
from services.gateway.edge.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("longhaul.gateway")

_SLUG_BY_STATUS = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
}


def problem_response(problem: Problem, instance: str, request_id: str | None) -> JSONResponse:
    return JSONResponse(
        problem.body(instance, request_id),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def field_errors(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in errors
    ]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        if isinstance(exc, ResonateUnavailable):
            request.app.state.metrics.resonate_errors.labels(exc.operation).inc()
            log.warning("resonate unavailable", operation=exc.operation, reason=exc.reason)
        return problem_response(exc, request.url.path, _request_id(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(error.get("type") == "json_invalid" for error in errors):
            problem = Problem(
                400, "malformed-json", "Malformed JSON", "The body is not valid JSON."
            )
        else:
            problem = Problem(
                422,
                "validation-error",
                "Invalid request",
                "The request does not match the schema.",
                errors=field_errors(errors),
            )
        return problem_response(problem, request.url.path, _request_id(request))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Raised for the first route whose path matched: see allow.py.
            if request.method == "OPTIONS":
                return options_response(request)
            headers["Allow"] = allowed_methods(request)
        title = HTTPStatus(exc.status_code).phrase
        slug = _SLUG_BY_STATUS.get(exc.status_code, title.lower().replace(" ", "-"))
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        problem = Problem(exc.status_code, slug, title, detail, headers=headers)
        return problem_response(problem, request.url.path, _request_id(request))

    # No handler for Exception: RequestContext answers those (see there why).
