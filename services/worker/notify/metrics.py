"""Webhook metrics, on the worker's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "longhaul_webhook_deliveries_total",
            "Notifications finished, by outcome: delivered, gone (410), failed (every attempt "
            "failed, the destination was refused, or no secret).",
            ["outcome"],
            registry=registry,
        )
        self.attempts = Counter(
            "longhaul_webhook_attempts_total",
            "Webhook attempts by result: 2xx..5xx, timeout, connection, refused.",
            ["result"],
            registry=registry,
        )
        self.attempt_duration = Histogram(
            "longhaul_webhook_attempt_duration_seconds",
            "Wall time of one webhook attempt, connect to response status.",
            buckets=ATTEMPT_BUCKETS,
            registry=registry,
        )
        self.settle_to_delivered = Histogram(
            "longhaul_webhook_settle_to_delivered_seconds",
            "From the job's completion to its webhook's 2xx.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 86400),
            registry=registry,
        )
