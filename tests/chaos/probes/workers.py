"""How busy a local worker is, from its /metrics (to aim a kill at work in flight)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

IN_PROGRESS = "longhaul_worker_executions_in_progress"


def in_progress(metrics_base_url: str, timeout: float = 1.0) -> float | None:
    """Executions running on the worker now; None when it does not answer."""
    try:
        text = httpx.get(f"{metrics_base_url}/metrics", timeout=timeout).text
    except httpx.HTTPError:
        return None
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == IN_PROGRESS
    )
