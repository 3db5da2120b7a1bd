"""What a client may send before the app sees a request: size and time of the header block.

Under ``uvicorn_worker.UvicornWorker`` gunicorn's ``limit_request_line``,
``limit_request_fields`` and ``limit_request_field_size`` do nothing: the
worker hands gunicorn's keepalive, timeout, max_requests, forwarded IPs, SSL
and backlog to uvicorn and nothing else, and uvicorn parses HTTP itself.
uvicorn's ``h11_max_incomplete_event_size`` applies to its h11 protocol only;
its httptools protocol (the fast one, which the gateway runs) has no limit on
the header block and no timer until a first response is sent. So a client
could send headers without end (ten unfinished 40 MB blocks grew a worker by
420 MiB) or one byte a second for ever.

``GuardedHttpToolsProtocol`` is uvicorn's httptools protocol plus:

- ``max_header_bytes`` on the request line and headers together, counted as
  bytes arrive (httptools buffers an unfinished header inside itself, so
  counting parsed headers would be too late): 431;
- ``max_url_bytes`` on the request target: 414;
- ``max_header_count`` header fields: 431;
- ``header_timeout_s`` from a connection's start, or from the first byte of a
  later request, to the end of its headers: 408 (a connection that sent
  nothing is closed without an answer, as an idle keep-alive one is).

Each refusal is a problem+json answer with an ``X-Request-ID``, logged as one
access line, and the connection is closed. HTTP the parser cannot read (a
control character in the URL, say) gets the same treatment as a 400, instead
of uvicorn's plain-text one.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec
import structlog
from prometheus_client import Counter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.gateway.settings import GatewaySettings

PROBLEM_JSON = b"application/problem+json"
access_log = structlog.get_logger("longhaul.gateway.access")
#: Refused before the app saw a request, so outside GatewayMetrics' per-app
#: registry: in gunicorn (multiprocess) mode every process's values are in the
#: metrics directory and /metrics sums them with the rest.
REFUSED = Counter(
    "longhaul_gateway_refused_requests_total",
    "Requests refused while their header block was read (431, 414, 408, 400).",
    ["status", "reason"],
    registry=None,
)


@dataclass(frozen=True)
class HeaderLimits:
    max_header_bytes: int
    max_url_bytes: int
    max_header_count: int
    header_timeout_s: float

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> HeaderLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_url_bytes=settings.max_url_bytes,
            max_header_count=settings.max_header_count,
            header_timeout_s=settings.header_timeout_s,
        )


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; ``send_400_response`` answers it."""

    def __init__(self, status: int, slug: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on the header block's size and time."""

    #: The settings' defaults; ``with_limits`` makes the class a gateway runs.
    limits: ClassVar[HeaderLimits] = HeaderLimits.from_settings(GatewaySettings.model_construct())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._heads_completed = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused: _Refused | None = None

    @classmethod
    def with_limits(cls, limits: HeaderLimits) -> type[GuardedHttpToolsProtocol]:
        return type(cls.__name__, (cls,), {"limits": limits})

    # Connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._reading_head:
            # A body. Should the next (pipelined) request's head start in the
            # same chunk, those bytes go uncounted: the bound slips by at most
            # one read (256 KiB), never without end.
            super().data_received(data)
            return
        if self._head_timer is None and self._idle():
            self._start_head_timer()
        allowance = self.limits.max_header_bytes - self._head_bytes
        if len(data) <= allowance:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # More than the head may still take: feed what it may, and refuse if
        # that did not end the headers (the rest may be a body: feed it then).
        heads = self._heads_completed
        view = memoryview(data)
        self._head_bytes += allowance
        super().data_received(view[:allowance])  # type: ignore[arg-type]
        if self.transport.is_closing():
            return
        if self._heads_completed == heads:
            self._refuse(
                _Refused(
                    431,
                    "headers-too-large",
                    "Request header fields too large",
                    f"The request line and headers exceed {self.limits.max_header_bytes} bytes.",
                )
            )
            return
        super().data_received(view[allowance:])  # type: ignore[arg-type]

    # Parser callbacks

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_url_bytes:
            self._stop(
                _Refused(
                    414,
                    "url-too-long",
                    "URI too long",
                    f"The request target exceeds {self.limits.max_url_bytes} bytes.",
                )
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > self.limits.max_header_count:
            self._stop(
                _Refused(
                    431,
                    "headers-too-large",
                    "Request header fields too large",
                    f"The request has more than {self.limits.max_header_count} header fields.",
                )
            )

    def _stop(self, refused: _Refused) -> None:
        # An exception in a callback makes httptools fail feed_data, and
        # uvicorn answers any parser failure with send_400_response.
        self._refused = refused
        raise refused

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._heads_completed += 1
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # What comes next is the next request's head; its timer starts with
        # its first byte (before that, uvicorn's keep-alive timer runs).
        self._reading_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._reading_head and self._head_bytes and self._head_timer is None:
            self._start_head_timer()  # a pipelined head arrived during the response

    def send_400_response(self, msg: str) -> None:
        # Called by uvicorn for any parser error, a refusal in a callback included.
        refused, self._refused = self._refused, None
        self._refuse(
            refused
            or _Refused(400, "bad-request", "Bad request", "The request is not valid HTTP/1.1.")
        )

    def _refuse(self, refused: _Refused) -> None:
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        request_id = os.urandom(16).hex()
        body = msgspec.json.encode(
            {
                "type": f"urn:longhaul:problem:{refused.slug}",
                "title": refused.title,
                "status": refused.status,
                "detail": refused.detail,
                "request_id": request_id,
            }
        )
        head = (
            f"HTTP/1.1 {refused.status} {refused.title}\r\n"
            f"content-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\n"
            f"x-request-id: {request_id}\r\n"
            "connection: close\r\n\r\n"
        )
        REFUSED.labels(str(refused.status), refused.slug).inc()
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()
        access_log.info(
            "request",
            request_id=request_id,
            method=None,
            path=None,
            route="<refused>",
            status=refused.status,
            reason=refused.slug,
            head_bytes=self._head_bytes,
        )

    # The header timer

    def _idle(self) -> bool:
        """No request of this connection is being answered (its head timer may run)."""
        return self.cycle is None or self.cycle.response_complete

    def _start_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._reading_head or not self._idle():
            return
        if self._head_bytes == 0:
            self.transport.close()
            return
        self._refuse(
            _Refused(
                408,
                "header-timeout",
                "Request timeout",
                f"The request line and headers took more than "
                f"{self.limits.header_timeout_s:g} s to arrive.",
            )
        )
