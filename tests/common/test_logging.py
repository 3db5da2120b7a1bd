"""One logging setup: our events, stdlib libraries and the SDK all come out as the same JSON."""

from __future__ import annotations

import io
import logging

import pytest
import structlog
from opentelemetry import trace

from tests.support import json_logging

pytestmark = pytest.mark.unit


def test_structlog_and_stdlib_lines_share_one_json_shape() -> None:
    with json_logging("worker", io.StringIO()) as read_lines:
        structlog.get_logger("longhaul.test").info("ours", job_id="j1")
        logging.getLogger("resonate.core").warning("from the sdk %s", "x")
        logging.getLogger("gunicorn.error").info("from gunicorn")
        try:
            raise ValueError("bad")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("with traceback")
        lines = read_lines()
    assert [line["event"] for line in lines] == [
        "ours",
        "from the sdk x",
        "from gunicorn",
        "with traceback",
    ]
    for line in lines:
        assert line["service"] == "worker"
        assert {"timestamp", "level", "logger"} <= set(line)
    assert lines[0]["job_id"] == "j1"
    assert "ValueError: bad" in lines[3]["exception"]


def test_request_scoped_context_is_bound_and_cleared() -> None:
    with json_logging("gateway", io.StringIO()) as read_lines:
        structlog.contextvars.bind_contextvars(request_id="r1")
        logging.getLogger("resonate").warning("inside")
        structlog.contextvars.clear_contextvars()
        logging.getLogger("resonate").warning("outside")
        inside, outside = read_lines()
    assert inside["request_id"] == "r1"
    assert "request_id" not in outside


def test_fused_stamper_adds_what_the_shared_processors_add() -> None:
    from services.common.logging import EventStamper, shared_processors

    class Named:
        name = "longhaul.gateway.access"

    structlog.contextvars.bind_contextvars(request_id="r9", job_id="j2")
    try:
        for method in ("info", "warn", "exception", "debug"):
            fused = EventStamper("gateway")(Named(), method, {"event": "e", "status": 200})
            chained: dict = {"event": "e", "status": 200}
            for processor in shared_processors("gateway"):
                chained = processor(Named(), method, chained)
            assert fused.pop("timestamp")[:16] == chained.pop("timestamp")[:16]
            assert list(fused.items()) == list(chained.items())
    finally:
        structlog.contextvars.clear_contextvars()


@pytest.mark.parametrize("trace_ids", [False, True])
def test_request_logger_writes_the_line_structlog_writes(trace_ids: bool) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from services.common.logging import request_logger

    span = TracerProvider().get_tracer("test").start_span("request")
    with json_logging("gateway", io.StringIO(), trace_ids=trace_ids) as read_lines:
        structlog.contextvars.bind_contextvars(request_id="r1")
        try:
            with trace.use_span(span, end_on_exit=True):
                request_logger("longhaul.gateway.access")("request", status=200, path="/x")
                structlog.get_logger("longhaul.gateway.access").info(
                    "request", status=200, path="/x"
                )
        finally:
            structlog.contextvars.clear_contextvars()
        fast, reference = read_lines()
    assert fast.pop("timestamp")[:16] == reference.pop("timestamp")[:16]
    assert list(fast.items()) == list(reference.items())
    assert fast["request_id"] == "r1"
    assert ("span_id" in fast) is trace_ids


def test_request_logger_honours_level_and_console_format() -> None:
    from services.common.logging import request_logger

    quiet = io.StringIO()
    with json_logging("gateway", quiet, level="WARNING"):
        request_logger("longhaul.gateway.access")("request", status=200)
    assert quiet.getvalue() == ""
    console = io.StringIO()
    with json_logging("gateway", console, fmt="console"):
        request_logger("longhaul.gateway.access")("request", status=200)
    assert "request" in console.getvalue() and "status=200" in console.getvalue()
    assert not console.getvalue().lstrip().startswith("{")
