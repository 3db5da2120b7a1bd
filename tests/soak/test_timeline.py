"""The soak report's arithmetic, on made-up runs."""

from __future__ import annotations

import pytest

from tests.chaos.model import JobRecord
from tests.soak.sampler import Sample, sample_once
from tests.soak.settings import SoakSettings
from tests.soak.timeline import MIB, job_timeline, memory_timeline, process_usage

pytestmark = pytest.mark.unit


def job(i: int, acked: float | None, done: float | None) -> JobRecord:
    record = JobRecord(index=i, key=f"k{i}", body={}, expected={})
    record.acked_at, record.done_at = acked, done
    return record


def test_job_timeline_buckets_throughput_and_latency() -> None:
    jobs = [job(0, 100.0, 101.0), job(1, 110.0, 170.5), job(2, 165.0, 166.0), job(3, 170, None)]
    rows = job_timeline(jobs, start=100.0, bucket_s=60)
    assert [r["acknowledged"] for r in rows] == [2, 2]
    assert [r["completed"] for r in rows] == [1, 2]
    assert rows[0]["latency_max_s"] == 1.0
    assert rows[1]["latency_p50_s"] == 1.0 and rows[1]["latency_max_s"] == 60.5
    assert job_timeline([], start=0, bucket_s=60) == []


def test_process_usage_measures_growth_after_warmup() -> None:
    samples = [
        Sample(at=t, name="worker-1", pid=7, rss_bytes=(50 + t / 360) * MIB, cpu_s=t / 100)
        for t in range(0, 3601, 60)
    ]
    samples.append(Sample(at=30, name="devserver", pid=5, rss_bytes=80 * MIB, cpu_s=1))
    usage = process_usage(samples, start=0, warmup_s=60)
    worker = usage["worker-1[7]"]
    assert worker["lived_s"] == 3600
    assert worker["rss_growth_mib_per_h"] == pytest.approx(10, rel=0.01)
    assert worker["cpu_s"] == 36 and worker["cpu_share"] == 0.01
    assert usage["devserver[5]"]["rss_growth_mib_per_h"] is None  # one sample: no slope
    rows = memory_timeline(samples, start=0, bucket_s=600)
    assert rows[0]["t_s"] == 0 and set(rows[0]["rss_mib"]) == {"worker-1[7]", "devserver[5]"}


def test_sampling_this_process_reads_proc() -> None:
    import os

    from tests.chaos.targets import LiveProcess

    (sample,) = sample_once([LiveProcess("me", os.getpid()), LiveProcess("gone", 2**22 + 1)], 1.0)
    assert sample.name == "me" and sample.rss_bytes > 10 * MIB and sample.cpu_s > 0


@pytest.mark.parametrize(
    ("text", "seconds"), [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("400", 400)]
)
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    settings = SoakSettings(duration=text, fault_window="10s")
    assert settings.duration_s == seconds
    assert settings.chaos().fault_window == 10


def test_faults_must_fit_in_the_run() -> None:
    with pytest.raises(ValueError, match="fault-window"):
        SoakSettings(duration=60, fault_window=120)
