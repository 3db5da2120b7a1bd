"""The real Resonate server's own metrics, exported by the dev server at ``GET /metrics``.

Names, labels and histogram buckets are those of v0.9.8's ``src/metrics.rs``
(Rust ``prometheus`` crate defaults): a benchmark or a dashboard reads the cost
of every client action from the same counter it would read on the real
server. The real server serves them on a port of their own (9090); the dev
server serves them on its API port, which is all a local stack needs.

- ``resonate_request_total{kind,status}``: every ``POST /`` envelope, ``kind``
  the envelope's kind, ``status`` the head status of the answer.
- ``resonate_request_duration_seconds{kind}``: from the body read to the answer.
- ``resonate_messages_total{kind}``: ``execute`` and ``unblock`` messages
  dispatched, delivered or not (the real server counts before routing).
- ``resonate_deliveries_total{status}`` and ``resonate_schedule_promises_total``
  exist for parity and stay empty: the dev server has no push transports and
  no schedules running.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

#: The Rust prometheus crate's DEFAULT_BUCKETS (the real server sets none of its own).
RUST_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Envelope kinds of protocol 2026-04-01. Anything else is labelled ``unknown``:
#: a label taken from a request as sent would let any client grow the series
#: without bound.
KINDS = frozenset(
    {
        "promise.create",
        "promise.get",
        "promise.settle",
        "promise.register_callback",
        "promise.register_listener",
        "promise.search",
        "task.create",
        "task.acquire",
        "task.release",
        "task.fulfill",
        "task.suspend",
        "task.heartbeat",
        "task.fence",
        "task.get",
        "schedule.create",
        "schedule.get",
        "schedule.delete",
        "schedule.search",
    }
)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerMetrics:
    """One registry per dev server (tests run several in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "resonate_request",
            "Total number of requests by kind and status",
            ["kind", "status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "resonate_request_duration_seconds",
            "Request duration in seconds by kind",
            ["kind"],
            buckets=RUST_DEFAULT_BUCKETS,
            registry=self.registry,
        )
        self.messages = Counter(
            "resonate_messages",
            "Total number of messages delivered by kind",
            ["kind"],
            registry=self.registry,
        )
        Counter(
            "resonate_deliveries",
            "Total number of message deliveries by status",
            ["status"],
            registry=self.registry,
        )
        Counter(
            "resonate_schedule_promises",
            "Total number of promises created by schedules",
            registry=self.registry,
        )

    def request(self, kind: object, status: int, seconds: float) -> None:
        label = kind if isinstance(kind, str) and kind in KINDS else "unknown"
        self.requests.labels(label, str(status)).inc()
        self.durations.labels(label).observe(seconds)

    def message(self, kind: str) -> None:
        self.messages.labels(kind).inc()

    def request_count(self, kind: str | None = None) -> float:
        """Requests answered so far (of one kind): what tests and benchmarks read."""
        total = 0.0
        for metric in self.requests.collect():
            for sample in metric.samples:
                if sample.name == "resonate_request_total" and (
                    kind is None or sample.labels["kind"] == kind
                ):
                    total += sample.value
        return total

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
