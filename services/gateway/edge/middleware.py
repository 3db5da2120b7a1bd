"""Pure ASGI middleware: request id, one log line and metrics per request; body limit."""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.logging import request_logger
from services.gateway.edge.errors import Problem, body_too_large
from services.gateway.edge.problems import problem_response
from services.gateway.metrics import GatewayMetrics

error_log = structlog.get_logger("longhaul.gateway")
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
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # The last resort, here rather than in an app exception handler:
            # Starlette runs a handler for Exception outside every middleware
            # (so its 500 had no X-Request-ID) and re-raises afterwards, which
            # made the server drop the connection. Here the client gets the
            # problem, the connection stays usable, and one line is logged.
            error_log.exception("unhandled error", path=scope["path"])
            if not response_started:
                problem = Problem(
                    500, "internal-error", "Internal error", "An unexpected error occurred."
                )
                await problem_response(problem, scope["path"], request_id)(
                    scope, receive, send_with_id
                )
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
    """Answer 413 for bodies over ``limit`` bytes, by Content-Length or as they stream.

    A client that sends its whole body without ``Expect: 100-continue`` is
    still writing when the 413 is ready; closing the socket then would reset
    the connection under it (unread data makes the kernel send RST), and most
    clients report the reset, not the answer. So up to ``drain_bytes`` of the
    refused body are read and dropped first (for at most ``drain_timeout_s``).
    A client that asked ``Expect: 100-continue`` has sent nothing yet: it gets
    the 413 at once. Unless the whole body was drained, the answer says
    ``Connection: close``: the bytes still to come cannot be read as a request.
    """

    def __init__(
        self, app: ASGIApp, limit: int, drain_bytes: int = 0, drain_timeout_s: float = 0
    ) -> None:
        self.app = app
        self.limit = limit
        self.drain_bytes = drain_bytes
        self.drain_timeout_s = drain_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            drained = False
            if int(declared) <= self.drain_bytes and not _expects_continue(scope):
                drained = await self._drain(receive, self.drain_bytes)
            await self._reject(scope, send, drained)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    drained = not message.get("more_body", False) or await self._drain(
                        receive, self.drain_bytes
                    )
                    # A BodyProblem passes through FastAPI's body parsing
                    # untouched and reaches the problem+json handler.
                    raise body_too_large(self.limit, close=not drained)
            return message

        await self.app(scope, limited_receive, send)

    async def _drain(self, receive: Receive, budget: int) -> bool:
        """Read and drop the rest of the body, up to ``budget`` bytes: True if it all came."""
        drained = 0
        try:
            async with asyncio.timeout(self.drain_timeout_s):
                while drained <= budget:
                    message = await receive()
                    if message["type"] != "http.request":
                        return False
                    drained += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return drained <= budget
        except TimeoutError:
            pass
        return False

    async def _reject(self, scope: Scope, send: Send, drained: bool) -> None:
        problem = body_too_large(self.limit, close=not drained)
        request_id = scope.get("state", {}).get("request_id")
        await problem_response(problem, scope["path"], request_id)(scope, _no_receive, send)


def _expects_continue(scope: Scope) -> bool:
    expect = _header(scope, b"expect")
    return expect is not None and expect.lower() == "100-continue"


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _route_template(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    # The template without convertors: /v1/jobs/{job_id}, not {job_id:job_id}.
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    # Unmatched paths share one label so scanners cannot blow up cardinality.
    return path if isinstance(path, str) else "<unmatched>"
