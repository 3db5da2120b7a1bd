"""One logging setup for every Longhaul process.

structlog and the standard library share one processor chain and one
``ProcessorFormatter``, so our own events, gunicorn, uvicorn, aiohttp and the
Resonate SDK all come out as the same JSON lines (or the same console lines).
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["json", "console"]

# The SDK and the HTTP stack log every request at DEBUG; INFO from them is useful.
_QUIET_LOGGERS = ("aiohttp.access", "uvicorn.access", "resonate.validation")


def shared_processors(service: str) -> list[structlog.typing.Processor]:
    def add_service(_logger: object, _name: str, event: dict) -> dict:
        event.setdefault("service", service)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        structlog.stdlib.ExtraAdder(),
    ]


def build_formatter(service: str, fmt: LogFormat) -> structlog.stdlib.ProcessorFormatter:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(service),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure_logging(service: str, level: str = "INFO", fmt: LogFormat = "json") -> None:
    """Route structlog and stdlib logging through one handler on stderr."""
    structlog.configure(
        processors=[
            *shared_processors(service),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Module-level loggers are created before configuration in tests; no caching
        # keeps every logger following the current configuration.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(build_formatter(service, fmt))
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
