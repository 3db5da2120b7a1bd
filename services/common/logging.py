"""One logging setup for every Longhaul process.

structlog and the standard library share the same processors and renderer
(our own events through ``EventStamper``, the shared chain fused into one call,
which a test keeps equal to it), so our own events, gunicorn, uvicorn, aiohttp
and the Resonate SDK all come out as the same JSON lines (or console lines).
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TextIO

import structlog
from opentelemetry import trace

from services.common.json_codec import dumps
from services.common.timefmt import utc_now_iso

LogFormat = Literal["json", "console"]

# The SDK and the HTTP stack log every request at DEBUG; INFO from them is useful.
_QUIET_LOGGERS = ("aiohttp.access", "uvicorn.access", "resonate.validation")


def add_timestamp(_logger: object, _name: str, event: dict) -> dict:
    # structlog's TimeStamper(fmt="iso", utc=True), at a quarter of the cost.
    event["timestamp"] = utc_now_iso()
    return event


def add_trace_ids(_logger: object, _name: str, event: dict) -> dict:
    """``trace_id`` and ``span_id`` of the span current where the line is logged, if any.

    Installed only when tracing is on: with it off no line pays for the lookup.
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def shared_processors(service: str, trace_ids: bool = False) -> list[structlog.typing.Processor]:
    def add_service(_logger: object, _name: str, event: dict) -> dict:
        event.setdefault("service", service)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_timestamp,
        add_service,
        structlog.stdlib.ExtraAdder(),
        *([add_trace_ids] if trace_ids else []),
    ]


class EventStamper:
    """``shared_processors`` in one call, for our own events (not stdlib records).

    The gateway writes a line per request, and every processor is a call:
    six become one. Same keys and values (a test compares the two chains).
    """

    _PREFIX = structlog.contextvars.STRUCTLOG_KEY_PREFIX
    _LEVEL_NAMES: ClassVar[dict[str, str]] = {"warn": "warning", "exception": "error"}

    def __init__(self, service: str) -> None:
        self.service = service

    def __call__(self, logger: Any, method_name: str, event: dict) -> dict:
        prefix = self._PREFIX
        for var, value in contextvars.copy_context().items():
            if value is not Ellipsis and var.name.startswith(prefix):
                event.setdefault(var.name[len(prefix) :], value)
        event["level"] = self._LEVEL_NAMES.get(method_name, method_name)
        event["logger"] = logger.name
        event["timestamp"] = utc_now_iso()
        event.setdefault("service", self.service)
        return event


class JsonLine:
    """Renderer: the event as one compact JSON line (msgspec, ~8x json.dumps)."""

    def __call__(self, _logger: Any, _method_name: str, event: dict) -> str:
        return dumps(event)


def request_logger(name: str) -> Callable[..., None]:
    """``log(event, **fields)`` for the one line per HTTP request.

    With the JSON configuration it stamps, encodes and writes the line in one
    step: the line structlog writes for ``get_logger(name).info(event,
    **fields)`` (a test compares them), without the bound logger's layers or
    the two processors with nothing to do for it (no exception to format, a
    renderer that only encodes). Otherwise it is structlog's ``info``; below
    INFO it writes nothing. Follows the configuration of when it is built.
    """
    bound = structlog.get_logger(name).bind()
    enabled = getattr(bound, "is_enabled_for", None)
    if enabled is not None and not enabled(logging.INFO):
        return _drop
    config = structlog.get_config()
    chain = list(config["processors"])
    traced = len(chain) == 4 and chain[1] is add_trace_ids
    if traced:
        del chain[1]
    if not (
        len(chain) == 3
        and isinstance(chain[0], EventStamper)
        and chain[1] is structlog.processors.format_exc_info
        and isinstance(chain[2], JsonLine)
    ):
        return bound.info
    stamp = chain[0]
    logger = config["logger_factory"](name)

    if traced:

        def log_traced(event: str, **fields: Any) -> None:
            fields["event"] = event
            logger.msg(dumps(add_trace_ids(logger, "info", stamp(logger, "info", fields))))

        return log_traced

    def log(event: str, **fields: Any) -> None:
        fields["event"] = event
        logger.msg(dumps(stamp(logger, "info", fields)))

    return log


def _drop(_event: str, **_fields: Any) -> None:
    return None


def _renderer(fmt: LogFormat) -> structlog.typing.Processor:
    if fmt == "json":
        return JsonLine()
    return structlog.dev.ConsoleRenderer(colors=False)


def build_formatter(
    service: str, fmt: LogFormat, trace_ids: bool = False
) -> structlog.stdlib.ProcessorFormatter:
    renderer = _renderer(fmt)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(service, trace_ids),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's direct writer, with the name ``add_logger_name`` reports."""

    def __init__(self, name: str, file: TextIO) -> None:
        super().__init__(file)
        self.name = name


def configure_logging(
    service: str, level: str = "INFO", fmt: LogFormat = "json", *, trace_ids: bool = False
) -> None:
    """Route structlog and stdlib logging to stderr as one format.

    Our own events take structlog's direct path (no stdlib LogRecord, about a
    tenth of the cost: one runs per request); library lines go through the
    stdlib handler and its ProcessorFormatter. Both share the same processors.
    ``trace_ids``: every line logged while a span is current carries its ids.
    """
    stream = sys.stderr
    formatter = build_formatter(service, fmt, trace_ids)
    structlog.configure(
        processors=[
            EventStamper(service),
            *([add_trace_ids] if trace_ids else []),
            structlog.processors.format_exc_info,
            _renderer(fmt),
        ],
        logger_factory=lambda *args: _NamedWriteLogger(str(args[0]) if args else "", stream),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # Module-level loggers are created before configuration in tests; no caching
        # keeps every logger following the current configuration.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Library loggers that install their own handlers must defer to the root one.
    for name in ("gunicorn.error", "gunicorn.access", "uvicorn", "uvicorn.error"):
        lib = logging.getLogger(name)
        lib.handlers[:] = []
        lib.propagate = True
