"""Helpers shared by several test packages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from unittest import mock

import httpx
import structlog
from fastapi import FastAPI
from resonate.resonate import Resonate
from resonate.testing import local_resonate
from resonate.timing import now_ms

from services.common.logging import LogFormat, configure_logging
from services.contract import BUILTIN_MODULE, Catalogue, load_catalogue
from services.contract.adverts import advertise
from services.devserver.reference_state import FaithfulServerState
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from services.worker.jobs import JobDeps, Outbox, register_jobs
from services.worker.metrics import WorkerMetrics

#: Built-ins, the example project's kinds, and ``tests/kinds.py`` (spin cases).
TEST_MODULES = (BUILTIN_MODULE, "acme_jobs.kinds", "tests.kinds")


def catalogue(*modules: str) -> Catalogue:
    return load_catalogue(modules or TEST_MODULES)


def gateway_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "resonate_timeout_s": 1.0,
        "max_wait_s": 5.0,
        "max_body_bytes": 4096,
        "prometheus_multiproc_dir": None,
        # The existing contract tests run without authentication; tests/gateway/test_auth_*
        # turn it on.
        "auth_mode": "none",
    }
    values.update(overrides)
    return GatewaySettings(**values)


def searchable_local_resonate(**kwargs: Any) -> Resonate:
    """``local_resonate`` over the dev server's state machine, which answers promise.search too.

    The SDK's reference machine has no search (400 unknown request kind); the
    dev server's is the reference plus the real server's search (and its
    other rules, ``services/devserver/reference_state.py``).
    """
    resonate = local_resonate(**kwargs)
    resonate._network.state = FaithfulServerState()  # type: ignore[attr-defined]
    return resonate


def in_process_resonate(
    deps: JobDeps, kinds: Catalogue | None = None
) -> Callable[[GatewaySettings], Resonate]:
    """The gateway and the worker jobs on one in-process Resonate (no routing by group)."""

    def factory(_settings: GatewaySettings) -> Resonate:
        resonate = searchable_local_resonate()
        register_jobs(resonate, deps, kinds or catalogue())
        return resonate

    return factory


@asynccontextmanager
async def running(app: FastAPI, *, advertised: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` in process; ``advertised``: as if a worker with its catalogue had started."""
    async with app.router.lifespan_context(app):
        if advertised:
            # Bounded and best effort: some tests point the app at no server at all.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(0.5):
                    await advertise(
                        app.state.resonate.promises, app.state.catalogue, "test-worker", now_ms()
                    )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


def worker_deps(**overrides: Any) -> JobDeps:
    return JobDeps(metrics=WorkerMetrics(), outbox=Outbox(None), **overrides)


def counter(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


__all__ = [
    "catalogue",
    "counter",
    "create_app",
    "gateway_settings",
    "in_process_resonate",
    "running",
]


@contextmanager
def json_logging(
    service: str, stream: Any, level: str = "INFO", fmt: LogFormat = "json", trace_ids: bool = False
) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Configure the production logging into ``stream``; yield a reader of the JSON lines.

    Whatever logging was configured before is restored afterwards.
    """
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    with mock.patch.object(sys, "stderr", stream):
        configure_logging(service, level, fmt, trace_ids=trace_ids)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
