"""Job kinds executed by the real SDK on an in-process Resonate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from resonate.testing import local_resonate

from services.contract.ledger import PromiseLedger
from services.worker.jobs import JobDeps, Outbox, register_jobs
from services.worker.metrics import WorkerMetrics
from tests.support import catalogue, counter

pytestmark = pytest.mark.unit


@pytest.fixture
async def worker(tmp_path: Path):
    resonate = local_resonate()
    deps = JobDeps(
        metrics=WorkerMetrics(),
        outbox=Outbox(tmp_path / "outbox"),
        ledger=PromiseLedger(resonate.promises, "test-worker"),
    )
    register_jobs(resonate, deps, catalogue())
    yield resonate, deps
    await resonate.stop()


async def test_registers_every_kind_under_its_function_name(worker) -> None:
    resonate, _ = worker
    for kind in catalogue():
        assert resonate._registry.get(kind.function_name, kind.version) is not None, kind.name


async def test_echo_returns_its_input(worker) -> None:
    resonate, deps = worker
    result = await resonate.rpc("e1", "longhaul.echo", {"a": [1, {"b": None}]}).result()
    assert result == {"a": [1, {"b": None}]}
    assert counter(deps.metrics, "longhaul_worker_jobs_completed_total", kind="echo") == 1


async def test_sleep_waits_durably_and_reports(worker) -> None:
    resonate, deps = worker
    assert await resonate.rpc("s1", "longhaul.sleep", {"seconds": 0.1}).result() == {"slept": 0.1}
    # Suspended once on the timer, then resumed to completion.
    assert counter(deps.metrics, "longhaul_worker_executions_suspended_total", kind="sleep") == 1
    assert counter(deps.metrics, "longhaul_worker_jobs_completed_total", kind="sleep") == 1


async def test_pipeline_runs_each_step_once_and_publishes(worker, tmp_path: Path) -> None:
    resonate, deps = worker
    result = await resonate.rpc(
        "p1", "longhaul.pipeline", {"values": [2, 4, 6], "scale": 0.5}
    ).result()
    assert result["stats"] == {
        "count": 3,
        "sum": 6.0,
        "mean": 2.0,
        "min": 1.0,
        "max": 3.0,
        "stdev": pytest.approx(0.8164965809),
    }
    published = json.loads((tmp_path / "outbox" / "p1.json").read_text())
    assert published == {"job_id": "p1", "stats": result["stats"]}
    for step in ("normalize", "compute_stats", "publish"):
        entries = await deps.ledger.read("p1", step)
        assert [e.n for e in entries] == [1], step
        assert entries[0].pid == "test-worker"


async def test_invalid_input_fails_without_retrying(worker) -> None:
    resonate, deps = worker
    with pytest.raises(Exception, match="seconds"):
        await resonate.rpc("bad", "longhaul.sleep", {"seconds": -1}).result()
    record = await resonate.promises.get("bad")
    assert record.state == "rejected"
    assert counter(deps.metrics, "longhaul_worker_jobs_failed_total", kind="sleep") == 1


async def test_ledger_numbers_concurrent_writers_without_gaps(worker) -> None:
    import asyncio

    resonate, _ = worker
    ledgers = [PromiseLedger(resonate.promises, f"w{i}") for i in range(4)]
    numbers = await asyncio.gather(*(ledger.record("job", "step", 0) for ledger in ledgers * 3))
    assert sorted(numbers) == list(range(1, 13))
    entries = await ledgers[0].read("job", "step")
    assert len({e.attempt for e in entries}) == 12
