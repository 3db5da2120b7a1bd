"""The jobs a run submits and the result each must have, computed here, not by a worker."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

from tests.chaos.model import JobRecord

KIND = "pipeline"
_FIELDS = ("count", "sum", "mean", "min", "max", "stdev")


def expected_stats(values: list[float], scale: float) -> dict[str, float]:
    """The pipeline's statistics by the standard library: an oracle independent of the worker."""
    scaled = [v * scale for v in values]
    return {
        "count": len(scaled),
        "sum": math.fsum(scaled),
        "mean": statistics.fmean(scaled),
        "min": min(scaled),
        "max": max(scaled),
        "stdev": statistics.pstdev(scaled),
    }


def result_mismatch(expected: dict[str, float], result: Any) -> str | None:
    """None if ``result`` is the pipeline's answer for ``expected``, else what differs."""
    stats = result.get("stats") if isinstance(result, dict) else None
    if not isinstance(stats, dict):
        return f"no stats in result {result!r}"
    for name in _FIELDS:
        got = stats.get(name)
        if not isinstance(got, int | float) or not math.isclose(
            got, expected[name], rel_tol=1e-9, abs_tol=1e-9
        ):
            return f"{name}: expected {expected[name]!r}, got {got!r}"
    if not isinstance(result.get("published_to"), str):
        return "result does not say where the report was published"
    return None


def make_workload(
    n: int, rng: random.Random, run_id: str, max_step_delay: float, max_values: int
) -> list[JobRecord]:
    """``n`` pipeline jobs with their own Idempotency-Key, mixed sizes and step delays."""
    jobs = []
    for i in range(n):
        values = [round(rng.uniform(-1000, 1000), 3) for _ in range(rng.randint(1, max_values))]
        scale = rng.choice((0.5, 1.0, 2.0, 3.25))
        body = {
            "kind": KIND,
            "input": {
                "values": values,
                "scale": scale,
                "step_delay_s": round(rng.uniform(0, max_step_delay), 3),
            },
        }
        jobs.append(
            JobRecord(
                index=i,
                key=f"chaos-{run_id}-{i:06d}",
                body=body,
                expected=expected_stats(values, scale),
            )
        )
    return jobs
