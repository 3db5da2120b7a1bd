"""Worker metrics and the small HTTP server for /metrics, /healthz and /readyz."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from services.common.stream_status import CAUSES, ListenerStatus

DURATION_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.started = Counter(
            "longhaul_worker_executions_started_total",
            "Executions of a job's durable function started (a resumed job starts again).",
            ["kind"],
            registry=self.registry,
        )
        self.completed = Counter(
            "longhaul_worker_jobs_completed_total",
            "Executions that returned a result.",
            ["kind"],
            registry=self.registry,
        )
        self.failed = Counter(
            "longhaul_worker_jobs_failed_total",
            "Executions that raised an error.",
            ["kind"],
            registry=self.registry,
        )
        self.suspended = Counter(
            "longhaul_worker_executions_suspended_total",
            "Executions that suspended to wait durably (sleep, remote step).",
            ["kind"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "longhaul_worker_execution_duration_seconds",
            "Wall time of one execution of a job's durable function.",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "longhaul_worker_executions_in_progress",
            "Executions running now.",
            ["kind"],
            registry=self.registry,
        )
        self.steps = Counter(
            "longhaul_worker_steps_total",
            "ctx.run steps executed, by job kind and step.",
            ["kind", "step"],
            registry=self.registry,
        )

        self.listener_connected = Gauge(
            "longhaul_worker_listener_connected",
            "1 while the SSE stream that brings this worker its work is open.",
            registry=self.registry,
        )
        self.listener_alive = Gauge(
            "longhaul_worker_listener_alive",
            "1 while a listener task exists that will reconnect (0: dead, the pod restarts).",
            registry=self.registry,
        )
        self.listener_reconnects = Counter(
            "longhaul_worker_listener_reconnects_total",
            "SSE streams that ended or failed to open and were retried, by cause.",
            ["cause"],
            registry=self.registry,
        )

        self.resonate_token_expiry = Gauge(
            "longhaul_worker_resonate_token_expiry_timestamp_seconds",
            "Unix time at which the JWT sent to the Resonate server expires, by how it is "
            "obtained (minted: renewed at half-life; static: RESONATE_TOKEN). No series while "
            "auth is off.",
            ["mode"],
            registry=self.registry,
        )

    def token_expiry(self, mode: str, expires_at: float | None) -> None:
        if expires_at is not None:
            self.resonate_token_expiry.labels(mode).set(expires_at)

    def watch_listener(self, status: ListenerStatus) -> None:
        """Export ``status``: gauges read it at scrape time; reconnects counted as they occur."""
        self.listener_connected.set_function(lambda: float(status.is_connected))
        self.listener_alive.set_function(lambda: float(status.is_alive))
        for cause in CAUSES:
            self.listener_reconnects.labels(cause)  # every series exists from the start
        status.on_disconnect.append(lambda cause: self.listener_reconnects.labels(cause).inc())

    def render(self) -> bytes:
        return generate_latest(self.registry)


#: A probe answers ``None`` when all is well, else the reason it is not.
Probe = Callable[[], str | None]


def ops_app(
    metrics: WorkerMetrics, not_ready: Probe, not_live: Probe, details: Callable[[], dict]
) -> web.Application:
    """``/healthz`` is liveness (503 only when a restart is the cure), ``/readyz`` readiness."""

    async def healthz(_request: web.Request) -> web.Response:
        reason = not_live()
        if reason is None:
            return web.json_response({"status": "ok", "listener": details()})
        return web.json_response(
            {"status": "dead", "reason": reason, "listener": details()}, status=503
        )

    async def readyz(_request: web.Request) -> web.Response:
        reason = not_ready()
        if reason is None:
            return web.json_response({"status": "ready", "listener": details()})
        return web.json_response(
            {"status": "not ready", "reason": reason, "listener": details()}, status=503
        )

    async def metrics_route(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_route)
    return app
