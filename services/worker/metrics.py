"""Worker metrics and the small HTTP server for /metrics, /healthz and /readyz."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from resonate.types import PromiseRecord

from services.common.stream_status import CAUSES, ListenerStatus
from services.contract.tags import KIND_TAG
from services.worker.sdk.slots import SlotGauge

DURATION_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: Created to settled: a job may wait durably for hours.
JOB_LATENCY_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400
)  # fmt: skip
#: Final states a worker settles a job in (promise state -> job status).
SETTLED_BY_WORKER = {"resolved": "succeeded", "rejected": "failed"}


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

        # Demand: what an autoscaler sizes the worker pool by (docs/scaling.md).
        self.task_slots = Gauge(
            "longhaul_worker_task_slots",
            "Tasks this worker executes at once at most (LONGHAUL_WORKER_CONCURRENCY).",
            registry=self.registry,
        )
        self.task_slots_busy = Gauge(
            "longhaul_worker_task_slots_busy",
            "Slots held: tasks acquired and executing (a suspended job holds none).",
            registry=self.registry,
        )
        self.tasks_queued = Gauge(
            "longhaul_worker_tasks_queued",
            "Tasks delivered to this worker and waiting for a free slot (not yet acquired).",
            registry=self.registry,
        )
        self.job_latency = Histogram(
            "longhaul_worker_job_latency_seconds",
            "Jobs settled by this worker, from the promise's creation to its settle (the "
            "server's own timestamps), by kind and final status (succeeded, failed).",
            ["kind", "status"],
            buckets=JOB_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def declare_kinds(self, kinds: Iterable[str]) -> None:
        """Every per-kind series exists from boot (at 0): a ratio over them is never empty."""
        for kind in kinds:
            for counter in (self.started, self.completed, self.failed):
                counter.labels(kind)
            for status in SETTLED_BY_WORKER.values():
                self.job_latency.labels(kind, status)

    def watch_slots(self, gauge: SlotGauge) -> None:
        self.task_slots.set_function(lambda: float(gauge.usage().slots))
        self.task_slots_busy.set_function(lambda: float(gauge.usage().busy))
        self.tasks_queued.set_function(lambda: float(gauge.usage().queued))

    def job_settled(self, record: PromiseRecord) -> None:
        """A settle this worker made: observed if it is a job's (it has a kind tag)."""
        kind = record.tags.get(KIND_TAG)
        status = SETTLED_BY_WORKER.get(record.state)
        if kind is None or status is None or record.settled_at is None:
            return
        seconds = max(record.settled_at - record.created_at, 0) / 1000
        self.job_latency.labels(kind, status).observe(seconds)

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
