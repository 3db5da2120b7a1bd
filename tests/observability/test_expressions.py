"""Every expression the chart ships (dashboard panels, alert rules) against real data.

A real Prometheus scrapes a local stack (gateway, two workers, the dev server
with the real server's metric names) after a little of everything: jobs that
succeed and fail, a cancel, bad requests. Each expression must

- evaluate without a PromQL error,
- select only metrics (and labels) that the processes' /metrics pages export,
- return data for each of its signals (the expression less the alert's
  threshold), except the ones in ``EXPECTED_EMPTY`` below, each with its reason.

A renamed metric or label fails this test.
"""

from __future__ import annotations

import httpx
import pytest

from tests.observability.conftest import Observed
from tests.observability.live import sample_names
from tests.observability.promql import (
    Expression,
    dashboard_expressions,
    rule_expressions,
    selectors,
    signals,
)

pytestmark = pytest.mark.integration

#: Signals that may return nothing on a healthy local stack, and why. The lead
#: empties this list when what is missing lands (it is a list on purpose: visible).
EXPECTED_EMPTY: dict[str, str] = {}

EXPRESSIONS = dashboard_expressions() + rule_expressions()


@pytest.fixture(scope="module")
def exported(observed: Observed) -> set[str]:
    """Sample names the processes export, after a little of everything has happened."""
    jobs = [observed.submit("hold", {"seconds": 0.2}).json()["id"] for _ in range(4)]
    jobs.append(observed.submit("hold", {"seconds": 0.1, "fail": True}).json()["id"])
    assert observed.submit("echo", {"x": 1}).status_code == 202
    # A webhook delivered; a long-poll woken by its job's end; a finished job read twice.
    notified = observed.submit("echo", {"x": 2}, notify=True).json()["id"]
    waited = observed.submit("hold", {"seconds": 0.3}).json()["id"]
    assert httpx.get(f"{observed.gateway}/v1/jobs/{waited}?wait=10", timeout=15).status_code == 200
    for _ in range(2):
        assert httpx.get(f"{observed.gateway}/v1/jobs/{waited}", timeout=10).status_code == 200
    jobs.append(notified)
    canceled = observed.submit("sleep", {"seconds": 600}).json()["id"]
    assert httpx.delete(f"{observed.gateway}/v1/jobs/{canceled}", timeout=10).status_code == 200
    assert observed.submit("no-such-kind", {}).status_code == 422
    assert httpx.get(f"{observed.gateway}/v1/jobs/unknown-job", timeout=10).status_code == 404
    statuses = observed.wait_done(jobs, timeout_s=30)
    assert sorted(statuses.values()) == ["failed"] + ["succeeded"] * 5
    prometheus = observed.prometheus
    # Scraped twice since they happened (a rate needs two samples): the failure,
    # the cancel and the 4xx are in Prometheus before any query.
    for series in (
        'longhaul_worker_job_latency_seconds_count{status="failed"}',
        'longhaul_gateway_job_latency_seconds_count{status="canceled"}',
        'longhaul_gateway_requests_total{status="422"}',
        'longhaul_gateway_requests_total{status="404"}',
        'longhaul_webhook_deliveries_total{outcome="delivered"}',
        "longhaul_gateway_wait_ends_total",
        'longhaul_gateway_finished_cache_total{result="hit"}',
    ):
        seen = f"(count_over_time({series}[1m]) >= 2) and ({series} > 0)"
        prometheus.wait_for(lambda q=seen: prometheus.query(q), timeout_s=15)
    urls = [*observed.worker_metrics, f"{observed.gateway}/metrics"]
    urls.append(f"{observed.stack.resonate_url}/metrics")
    names = {"up"}
    for url in urls:
        names |= sample_names(url)
    return names


def test_the_rules_load_and_evaluate_in_prometheus(observed: Observed) -> None:
    health = observed.prometheus.wait_for(observed.prometheus.rules_health, timeout_s=15)
    assert health and set(health.values()) == {"ok"}, health
    assert set(health) == {e.where.removeprefix("alert: ") for e in rule_expressions()}


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=[e.where for e in EXPRESSIONS])
def test_every_expression_returns_data(
    observed: Observed, exported: set[str], expression: Expression
) -> None:
    prometheus = observed.prometheus
    prometheus.query(expression.expr)  # raises on a PromQL error
    for selector in selectors(expression.expr):
        assert selector.metric in exported, f"{selector.metric} is exported by no process"
        for label in selector.labels:
            has_label = prometheus.query(f'count({selector.metric}{{{label}!=""}})')
            assert has_label, f"no {selector.metric} series carries the label {label!r}"
    for signal in signals(expression.expr):
        if signal in EXPECTED_EMPTY:
            continue
        assert prometheus.query(signal), f"{expression.where}: no data for {signal}"
