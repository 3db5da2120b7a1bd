"""Pure ASGI middleware: request id, one log line and metrics per request; body limit."""

from __future__ import annotations

import os
import re
import time
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.logging import request_logger
from services.gateway.errors import Problem
from services.gateway.metrics import GatewayMetrics
from services.gateway.problems import problem_response

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_UNLOGGED_ROUTES = frozenset({"/healthz", "/metrics"})


class RequestContext:
    """Bind a request id, log one line when the response ends, count it.

    Runs on every request, the status polls above all, so it keeps its
    per-request work small: the line is written by ``request_logger`` (one
    step, built once), the request id is bound and reset by token rather than
    by clearing every context variable, metric children are looked up once
    per label set.
    """

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log_request = request_logger("longhaul.gateway.access")
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            self._count(method, route, status, elapsed)
            if route not in _UNLOGGED_ROUTES:
                self.log_request(
                    "request",
                    method=method,
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.reset_contextvars(**tokens)

    def _count(self, method: str, route: str, status: int, elapsed: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self.metrics.requests.labels(method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self.metrics.latency.labels(method, route)
            self._histograms[(method, route)] = histogram
        histogram.observe(elapsed)


class BodySizeLimit:
    """Answer 413 for bodies over ``limit`` bytes, by Content-Length or as they stream."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # An HTTPException passes through FastAPI's body parsing
                    # untouched and reaches the problem+json handler.
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"The request body exceeds the limit of {self.limit} bytes."

    async def _reject(self, scope: Scope, send: Send) -> None:
        problem = Problem(413, "body-too-large", "Request body too large", self._detail())
        request_id = scope.get("state", {}).get("request_id")
        await problem_response(problem, scope["path"], request_id)(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _route_template(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths share one label so scanners cannot blow up cardinality.
    return path if isinstance(path, str) else "<unmatched>"
