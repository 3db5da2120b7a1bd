"""The autoscaling signal, proven with a real Prometheus scraping a real stack.

The chart's own KEDA query (rendered from ``ci/keda-values.yaml``) is run as
is; the replica count an HPA computes from it for a ``Value`` metric,
``ceil(current x metric / target)`` with the chart's target, follows I/O-bound
load up and back down. The metric names in the query are the ones a real
worker's /metrics page exports.
"""

from __future__ import annotations

import math
import time

import pytest
import yaml

from tests.observability.conftest import CONCURRENCY, WORKERS, Observed
from tests.observability.live import prometheus_trigger, rendered, sample_names
from tests.observability.prometheus import NAMESPACE
from tests.observability.promql import CHART, metric_names

pytestmark = pytest.mark.integration

SLOTS = WORKERS * CONCURRENCY
HOLD_S = 5.0  # one wave of jobs holds every slot this long
WAVES = 3


@pytest.fixture(scope="module")
def trigger() -> dict:
    return prometheus_trigger(rendered("keda"))


def desired_replicas(current: int, metric: float, target: float) -> int:
    """What an HPA asks for on a Value metric (before tolerance and min/max)."""
    return math.ceil(current * metric / target)


def test_the_charts_query_names_what_a_real_worker_exports(
    observed: Observed, trigger: dict
) -> None:
    names = metric_names(trigger["metadata"]["query"])
    assert names == {
        "longhaul_worker_task_slots",
        "longhaul_worker_task_slots_busy",
        "longhaul_worker_tasks_queued",
    }
    for url in observed.worker_metrics:
        assert names <= sample_names(url), url


def test_the_demand_query_and_the_hpa_formula_follow_the_load(
    observed: Observed, trigger: dict
) -> None:
    prometheus = observed.prometheus
    query = trigger["metadata"]["query"]
    target = float(trigger["metadata"]["threshold"])
    assert f'namespace="{NAMESPACE}"' in query and 0 < target < 1
    assert prometheus.wait_for(lambda: prometheus.value(query) == 0, timeout_s=20) is True

    started = time.monotonic()
    jobs = []
    for _ in range(WAVES * SLOTS):
        answer = observed.submit("hold", {"seconds": HOLD_S})
        assert answer.status_code == 202, answer.text
        jobs.append(answer.json()["id"])

    seen: list[float] = []
    adapter_checked = False
    while time.monotonic() - started < 60:
        at = time.time()
        demand = prometheus.value(query, at)
        assert demand is not None, "the chart's query returned nothing"
        seen.append(demand)
        if demand == WAVES and not adapter_checked:
            assert adapter_demand(prometheus, at) == demand
            adapter_checked = True
        if max(seen) == WAVES and demand == 0:
            break
        time.sleep(0.5)
    peak = seen.index(max(seen))
    # Every job delivered at once: SLOTS executing, the rest queued in the workers.
    assert seen[peak] == WAVES, f"{seen}"
    assert adapter_checked
    up = desired_replicas(WORKERS, seen[peak], target)
    assert up == math.ceil(WORKERS * WAVES / target) > WORKERS  # scale up
    # Then down, wave by wave, never back up (no new work arrives).
    after = seen[peak:]
    assert after == sorted(after, reverse=True), f"{after}"
    assert any(0 < d < WAVES for d in after), after  # a step in between was seen
    assert after[-1] == 0 and desired_replicas(WORKERS, after[-1], target) == 0  # -> minReplicas
    assert set(observed.wait_done(jobs, timeout_s=30).values()) == {"succeeded"}


def adapter_demand(prometheus, at: float) -> float | None:
    """The prometheus-adapter example rule's query, as the adapter would run it for the HPA."""
    example = yaml.safe_load((CHART / "examples" / "prometheus-adapter-values.yaml").read_text())
    (rule,) = example["rules"]["external"]
    matchers = f'namespace="{NAMESPACE}",job="worker"'
    return prometheus.value(rule["metricsQuery"].replace("<<.LabelMatchers>>", matchers), at)
