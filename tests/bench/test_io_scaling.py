"""The io_scaling benchmark's kind runs as a durable wait, and its report section renders."""

from __future__ import annotations

import time

import pytest
from resonate.testing import local_resonate

from bench import io_scaling, report
from services.contract import load_catalogue
from services.worker.jobs import register_jobs
from tests.support import counter, worker_deps

pytestmark = pytest.mark.unit


async def test_the_io_kind_waits_in_a_durable_step_without_the_cpu() -> None:
    catalogue = load_catalogue(io_scaling.JOB_MODULES.split(","))
    kind = catalogue.get(io_scaling.KIND)
    assert kind is not None and kind.input_model().ms == io_scaling.STEP_MS
    resonate = local_resonate()
    deps = worker_deps()
    register_jobs(resonate, deps, catalogue)
    started, cpu0 = time.monotonic(), time.process_time()
    handles = [resonate.rpc(f"io-{i}", kind.function_name, {"ms": 200}) for i in range(20)]
    results = [await h.result() for h in handles]
    assert results == [{"waited_ms": 200}] * 20
    # Twenty waits overlap: far less than 20 x 200 ms of wall time, little CPU.
    assert time.monotonic() - started < 2.0
    assert time.process_time() - cpu0 < 1.0
    assert counter(deps.metrics, "longhaul_worker_jobs_completed_total", kind="io-wait") == 20
    await resonate.stop()


def test_the_report_puts_io_wait_beside_echo() -> None:
    rec = {
        "completed_per_s": 75.0,
        "slot_bound_per_s": 40.0,
        "share_of_bound": 0.94,
        "latency_ms": {"p50": 230.0, "p99": 400.0},
        "cpu_s": {"gateway": 1.0, "devserver": 1.0, "workers": 0.5, "other": 0.1, "loadgen": 0.2},
    }
    results = {
        "config": {"scaling_duration_s": 4},
        "phases": {
            "scaling": {"longhaul": {"1": {"completed_per_s": 824.0}}},
            "io_scaling": {
                "longhaul": {
                    "step_ms": 200, "concurrency": 8, "clients": 96, "speedup_1_to_2": 1.95,
                    "workers": {"1": {**rec, "completed_per_s": 38.0}, "2": rec},
                }
            },
        },
    }  # fmt: skip
    doc = report.Doc()
    io_scaling.report_section(doc, results)
    text = "\n".join(doc.lines)
    assert "## Worker processes, I/O-bound jobs" in text
    assert "| 1 | 38 | 40 | 94% | 230 | 400 | 824 |" in text
    assert "grow 1.95" in text
