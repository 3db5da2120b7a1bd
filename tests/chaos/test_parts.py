"""The harness's small parts: fault plan, /proc probe, result oracle, settings."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import CliApp

from services.worker.jobs import _statistics
from tests.chaos.actions.schedule import LEAD_SHARE, build_plan
from tests.chaos.probes.procs import children
from tests.chaos.settings import ChaosSettings
from tests.chaos.workload import expected_stats, make_workload, result_mismatch

pytestmark = pytest.mark.unit


def test_plan_spreads_every_planned_fault_over_the_window() -> None:
    counts = {"worker_kill": 6, "gunicorn_worker_kill": 2, "gateway_kill": 2}
    plan = build_plan(counts, 30.0, random.Random(5))
    assert Counter(kind for _, kind in plan) == counts
    times = [t for t, _ in plan]
    assert times == sorted(times) and times[0] == pytest.approx(30.0 * LEAD_SHARE)
    assert times[-1] < 30.0
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
    assert len(gaps) == 1  # evenly spaced
    # Kinds interleave: the two gateway kills are not back to back.
    gateway = [i for i, (_, kind) in enumerate(plan) if kind == "gateway_kill"]
    assert gateway[1] - gateway[0] > 1
    assert build_plan({}, 30.0, random.Random(0)) == []


def write_proc(
    root: Path, pid: int, ppid: int, comm: str = "python", children_of: str | None = None
) -> None:
    task = root / str(pid) / "task" / str(pid)
    task.mkdir(parents=True)
    (root / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1\n")
    if children_of is not None:
        (task / "children").write_text(children_of)


def test_children_from_the_task_children_files(tmp_path: Path) -> None:
    write_proc(tmp_path, 100, 1, children_of="101 102 ")
    assert children(100, tmp_path) == [101, 102]


def test_children_by_scanning_ppids_when_there_is_no_children_file(tmp_path: Path) -> None:
    write_proc(tmp_path, 100, 1, comm="gunicorn: master")
    for pid, ppid, comm in [(101, 100, "weird ) name"), (102, 100, "x"), (103, 1, "y")]:
        write_proc(tmp_path, pid, ppid, comm=comm)
    assert children(100, tmp_path) == [101, 102]


def test_the_oracle_agrees_with_the_pipeline_definition_of_its_stats() -> None:
    for job in make_workload(50, random.Random(11), "oracle", 0.0, 20):
        values = job.body["input"]["values"]
        scale = job.body["input"]["scale"]
        worker = _statistics([v * scale for v in values])
        assert result_mismatch(job.expected, {"stats": worker, "published_to": "log"}) is None


def test_the_oracle_rejects_wrong_or_incomplete_results() -> None:
    expected = expected_stats([1.0, 2.0, 3.0], 2.0)
    assert expected["sum"] == 12.0 and expected["count"] == 3
    good = {"stats": dict(expected), "published_to": "outbox/job.json"}
    assert result_mismatch(expected, good) is None
    assert "max" in (result_mismatch(expected, {**good, "stats": {**expected, "max": 5}}) or "")
    assert "published" in (result_mismatch(expected, {"stats": expected}) or "")
    assert result_mismatch(expected, None) is not None


def test_each_key_is_unique_and_each_body_valid_for_the_pipeline_kind() -> None:
    jobs = make_workload(200, random.Random(2), "run", 0.5, 8)
    assert len({j.key for j in jobs}) == 200
    for job in jobs:
        assert 1 <= len(job.body["input"]["values"]) <= 8
        assert 0 <= job.body["input"]["step_delay_s"] <= 0.5


def test_cli_flags_and_target_rules() -> None:
    settings = CliApp.run(
        ChaosSettings,
        cli_args=["--jobs", "50", "--worker-kills", "2", "--gunicorn-kills", "1", "--ttl", "2"],
    )
    assert (settings.jobs, settings.worker_kills, settings.gunicorn_kills) == (50, 2, 1)
    assert settings.ttl == 2.0 and settings.target == "processes"
    with pytest.raises(ValidationError, match="needs --gateway-url"):
        ChaosSettings(target="k8s")
    with pytest.raises(ValidationError, match="processes-only"):
        ChaosSettings(
            target="k8s", gateway_url="http://g", resonate_url="http://r", gunicorn_kills=1
        )
    # The dev server keeps its state in SQLite: it is a local fault target too.
    assert ChaosSettings(resonate_kills=1).fault_counts()["resonate_kill"] == 1
    with pytest.raises(ValidationError, match="cannot be longer"):
        ChaosSettings(duration=10, fault_window=20)
    k8s = CliApp.run(
        ChaosSettings,
        cli_args=["--target", "k8s", "--gateway-url", "http://g", "--resonate-url", "http://r"],
    )
    assert k8s.fault_counts()["gunicorn_worker_kill"] == 0
    # Both wait for the same retry timer: the chart sets the real server's to 5 s.
    assert (k8s.dispatch_retry, settings.dispatch_retry) == (5.0, 5.0)
