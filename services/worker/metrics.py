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

    def render(self) -> bytes:
        return generate_latest(self.registry)


def ops_app(metrics: WorkerMetrics, is_ready: Callable[[], bool]) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        if is_ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "draining"}, status=503)

    async def metrics_route(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_route)
    return app
