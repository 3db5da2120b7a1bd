"""What a soak run did over time: throughput and latency per bucket, memory and CPU per process.

Pure functions of the job records and the samples, so they are tested on
made-up runs (tests/soak/test_timeline.py).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from tests.chaos.model import JobRecord
from tests.soak.sampler import Sample

MIB = 1024 * 1024


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)


def job_timeline(jobs: Sequence[JobRecord], start: float, bucket_s: float) -> list[dict[str, Any]]:
    """Per bucket: jobs acknowledged, jobs completed, and the latency (202 -> terminal) of those."""
    acked: dict[int, int] = defaultdict(int)
    done: dict[int, list[float]] = defaultdict(list)
    for job in jobs:
        if job.acked_at is not None:
            acked[int((job.acked_at - start) // bucket_s)] += 1
        if job.acked_at is not None and job.done_at is not None:
            done[int((job.done_at - start) // bucket_s)].append(job.done_at - job.acked_at)
    buckets = range(max([*acked, *done], default=-1) + 1)
    return [
        {
            "t_s": round(b * bucket_s),
            "acknowledged": acked.get(b, 0),
            "completed": len(done.get(b, [])),
            "completed_per_s": round(len(done.get(b, [])) / bucket_s, 3),
            "latency_p50_s": _quantile(done.get(b, []), 0.5),
            "latency_p99_s": _quantile(done.get(b, []), 0.99),
            "latency_max_s": _quantile(done.get(b, []), 1.0),
        }
        for b in buckets
    ]


def _slope_per_hour(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MiB), in MiB per hour."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return round(cov / var * 3600, 2)


def process_usage(
    samples: Sequence[Sample], start: float, warmup_s: float
) -> dict[str, dict[str, Any]]:
    """Per process (name and pid): lifetime, RSS first/last/max, growth after warm-up, CPU."""
    series: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        series[f"{sample.name}[{sample.pid}]"].append(sample)
    out = {}
    for key, points in sorted(series.items()):
        points.sort(key=lambda s: s.at)
        steady = [(s.at - start, s.rss_bytes / MIB) for s in points if s.at - start >= warmup_s]
        lifetime = points[-1].at - points[0].at
        cpu = points[-1].cpu_s - points[0].cpu_s
        out[key] = {
            "name": points[0].name,
            "from_s": round(points[0].at - start, 1),
            "lived_s": round(lifetime, 1),
            "rss_first_mib": round(points[0].rss_bytes / MIB, 1),
            "rss_last_mib": round(points[-1].rss_bytes / MIB, 1),
            "rss_max_mib": round(max(s.rss_bytes for s in points) / MIB, 1),
            "rss_growth_mib_per_h": _slope_per_hour(steady),
            "cpu_s": round(cpu, 2),
            "cpu_share": round(cpu / lifetime, 4) if lifetime > 0 else None,
        }
    return out


def memory_timeline(
    samples: Sequence[Sample], start: float, bucket_s: float
) -> list[dict[str, Any]]:
    """Per bucket, the last RSS (MiB) seen of each process, by its name and pid."""
    rows: dict[int, dict[str, float]] = defaultdict(dict)
    for sample in sorted(samples, key=lambda s: s.at):
        bucket = int((sample.at - start) // bucket_s)
        rows[bucket][f"{sample.name}[{sample.pid}]"] = round(sample.rss_bytes / MIB, 1)
    return [{"t_s": round(b * bucket_s), "rss_mib": rows[b]} for b in sorted(rows)]
