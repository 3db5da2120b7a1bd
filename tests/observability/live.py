"""What the live tests read besides Prometheus: the chart's rendered query, /metrics pages."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.chart.helpers import CI_DIR, Helm, load_tools_module


def rendered(scenario: str) -> list[dict]:
    helm = Helm(load_tools_module().ensure()["helm"])
    return helm.template([CI_DIR / f"{scenario}-values.yaml"])


def prometheus_trigger(docs: list[dict]) -> dict:
    (scaled,) = [d for d in docs if d["kind"] == "ScaledObject"]
    (trigger,) = [t for t in scaled["spec"]["triggers"] if t["type"] == "prometheus"]
    return trigger


def sample_names(url: str) -> set[str]:
    """Every sample name a /metrics page exports (``_bucket``, ``_total``... included)."""
    text = httpx.get(url, timeout=10).text
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}
