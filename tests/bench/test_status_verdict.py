"""The report's claim about status reads follows from the rounds measured in turns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.phases import Config, Ctx, batches, expected_status, in_turns, median_run
from bench.report import read_verdict, rounds_ahead, unpaired_note

pytestmark = pytest.mark.unit


def _run(rps: float, cpu: float = 0.5) -> dict[str, Any]:
    return {"rps": rps, "cpu_ms_per_request": {"gateway": cpu}, "latency_ms": {"p50": 1.0}}


def _results(
    longhaul: dict[str, list[float]],
    reference: dict[str, list[float]],
    cpu: tuple[float, float] = (0.45, 0.5),
) -> dict[str, Any]:
    def system(points: dict[str, list[float]], gateway_cpu: float) -> dict[str, Any]:
        return {
            "completed": {
                c: median_run([_run(x, gateway_cpu) for x in rounds])
                for c, rounds in points.items()
            }
        }

    return {
        "config": {"concurrencies": [int(c) for c in longhaul]},
        "phases": {
            "status": {
                "longhaul": system(longhaul, cpu[0]),
                "reference": system(reference, cpu[1]),
            }
        },
    }


def test_the_median_round_is_kept_with_every_round_beside_it() -> None:
    rec = median_run([_run(3000), _run(2600), _run(2900)])
    assert rec["rps"] == 2900
    assert [r["rps"] for r in rec["rounds"]] == [3000, 2600, 2900]


def test_one_run_is_kept_as_it_is() -> None:
    assert "rounds" not in median_run([_run(2500)])


def test_rounds_are_compared_pairwise() -> None:
    r = _results({"8": [10, 20, 30], "64": [5, 5, 5]}, {"8": [11, 19, 29], "64": [4, 6, 4]})
    assert rounds_ahead(r, "longhaul", "reference") == (4, 6)


def test_at_least_as_fast_needs_the_rounds_as_well() -> None:
    # Higher median and cheaper per read, but behind in most rounds: not claimed.
    r = _results({"8": [104, 101, 300]}, {"8": [105, 103, 102]})
    assert r["phases"]["status"]["longhaul"]["completed"]["8"]["rps"] == 104  # median, ahead
    assert rounds_ahead(r, "longhaul", "reference") == (1, 3)
    assert read_verdict(r)[0] != "at least as fast as"
    r = _results({"8": [105, 106, 107]}, {"8": [102, 103, 104]})
    assert read_verdict(r)[0] == "at least as fast as"


def test_more_cpu_per_read_is_not_at_least_as_fast() -> None:
    r = _results({"8": [105, 106, 107]}, {"8": [102, 103, 104]}, cpu=(0.6, 0.5))
    assert read_verdict(r)[0] != "at least as fast as"


def test_each_system_is_checked_for_its_own_words() -> None:
    assert expected_status("reference", "completed") == '"status":"resolved"'
    assert expected_status("longhaul", "completed") == '"status":"succeeded"'
    assert expected_status("celery", "pending") == '"status":"pending"'


def test_rounds_taken_apart_are_not_paired() -> None:
    r = _results({"8": [105, 106, 107]}, {"8": [102, 103, 104]})
    r["phases"]["status"]["reference"]["completed"]["8"]["batch"] = 1
    assert rounds_ahead(r, "longhaul", "reference") == (0, 0)
    assert unpaired_note(r, "status")


def test_systems_sharing_a_given_resonate_server_take_turns_alone() -> None:
    names = ["longhaul", "reference", "celery"]
    assert batches(_ctx(None), names) == [names]
    assert batches(_ctx("http://resonate:8001"), names) == [["longhaul", "celery"], ["reference"]]


def _ctx(resonate_url: str | None) -> Ctx:
    return Ctx(Config(), Path("/nonexistent"), {}, lambda _msg: None, {}, resonate_url=resonate_url)


def test_systems_take_turns_and_the_first_rotates() -> None:
    calls: list[str] = []

    def run(name: str) -> dict[str, Any]:
        calls.append(name)
        return _run(len(calls))

    runs = in_turns(["a", "b", "c"], 3, run)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert [r["rps"] for r in runs["a"]] == [1, 6, 8]


def test_no_systems_no_turns() -> None:
    assert in_turns([], 3, lambda _name: _run(1)) == {}
