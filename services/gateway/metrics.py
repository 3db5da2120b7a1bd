"""Gateway metrics, correct under gunicorn's several worker processes.

The metric objects live on a registry owned by the app (never the global one),
so several apps in one test process do not collide. In multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR`` set before prometheus_client is imported, which
the gunicorn entry point does) each process writes its own files and every
scrape aggregates them with a fresh registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from services.common.stream_status import CAUSES, ListenerStatus

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: The worker's buckets (longhaul_worker_job_latency_seconds): one histogram family per status.
JOB_LATENCY_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400
)  # fmt: skip
#: Operations whose failure is a Resonate-unavailable 503 (job_store.py).
RESONATE_OPERATIONS = ("promise.create", "promise.get", "promise.settle")


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, multiproc_dir: Path | None) -> None:
        self._multiproc_dir = multiproc_dir
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "longhaul_gateway_requests_total",
            "HTTP requests answered, by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "longhaul_gateway_request_duration_seconds",
            "HTTP request latency, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.submissions = Counter(
            "longhaul_gateway_job_submissions_total",
            "Job submissions by kind and outcome (created, replayed, conflict, invalid).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.resonate_errors = Counter(
            "longhaul_gateway_resonate_errors_total",
            "Calls to the Resonate server that ended in a 503 (timeout or server error).",
            ["operation"],
            registry=self.registry,
        )

        self.auth_failures = Counter(
            "longhaul_gateway_auth_failures_total",
            "Requests refused by authentication (401, 403, 503), by reason.",
            ["reason"],
            registry=self.registry,
        )

        self.resonate_token_expiry = Gauge(
            "longhaul_gateway_resonate_token_expiry_timestamp_seconds",
            "Unix time at which the JWT sent to the Resonate server expires (the soonest of "
            "the live gunicorn workers'), by how it is obtained (minted: renewed at half-life; "
            "static: RESONATE_TOKEN). No series while auth is off.",
            ["mode"],
            registry=self.registry,
            multiprocess_mode="livemin",
        )

        self.push_connected = Gauge(
            "longhaul_gateway_push_stream_connected",
            "Gateway processes whose push stream (SSE, unblock messages for long-polls) to the "
            "Resonate server is open. Down, long-polls re-read the job on a backoff instead.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.push_reconnects = Counter(
            "longhaul_gateway_push_stream_reconnects_total",
            "Push streams that ended (or failed to open) and were reopened, by cause.",
            ["cause"],
            registry=self.registry,
        )
        self.waiting = Gauge(
            "longhaul_gateway_waiting_requests",
            "Long-polls (?wait=) being held.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.watched = Gauge(
            "longhaul_gateway_watched_jobs",
            "Jobs long-polls wait on (one Resonate listener each, per gateway process).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.wait_ends = Counter(
            "longhaul_gateway_wait_ends_total",
            "Long-polls that saw their job settle or their time run out, by what told them: "
            "push (an unblock message), listener (the registration's answer), read (a backoff "
            "re-read, push down), final_read (no push came: the last read at the deadline).",
            ["how"],
            registry=self.registry,
        )
        self.finished_cache = Counter(
            "longhaul_gateway_finished_cache_total",
            "Reads of a job looked up in the finished-view cache: hit (no Resonate read) or miss.",
            ["result"],
            registry=self.registry,
        )
        self.finished_hit = self.finished_cache.labels("hit")
        self.finished_miss = self.finished_cache.labels("miss")
        self.job_latency = Histogram(
            "longhaul_gateway_job_latency_seconds",
            "Jobs this gateway settled (canceled), from the promise's creation to its settle "
            "(the server's own timestamps), by kind and final status.",
            ["kind", "status"],
            buckets=JOB_LATENCY_BUCKETS,
            registry=self.registry,
        )
        for operation in RESONATE_OPERATIONS:  # at 0 from the start: a ratio is never empty
            self.resonate_errors.labels(operation)

    def watch_push(self, status: ListenerStatus) -> None:
        """Export the push stream's state, set as it changes (multiprocess gauges are files)."""
        self.push_connected.set(0)
        for cause in CAUSES:
            self.push_reconnects.labels(cause)  # every series exists from the start
        status.on_connect.append(lambda: self.push_connected.set(1))

        def lost(cause: str) -> None:
            self.push_connected.set(0)
            self.push_reconnects.labels(cause).inc()

        status.on_disconnect.append(lost)

    def declare_kinds(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self.job_latency.labels(kind, "canceled")

    def job_canceled(self, kind: str, created_ms: int, settled_ms: int | None) -> None:
        if settled_ms is not None:
            self.job_latency.labels(kind, "canceled").observe(
                max(settled_ms - created_ms, 0) / 1000
            )

    def token_expiry(self, mode: str, expires_at: float | None) -> None:
        if expires_at is not None:
            self.resonate_token_expiry.labels(mode).set(expires_at)

    def render(self) -> bytes:
        if self._multiproc_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self._multiproc_dir))
        return generate_latest(registry)
