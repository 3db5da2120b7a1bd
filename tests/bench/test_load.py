"""What wrk reports is read back whole, and the read scripts know their thread count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import load
from bench.report import wrong_percent

pytestmark = pytest.mark.unit


def _wrk_line(**over: object) -> str:
    raw = {
        "requests": 3000,
        "duration_us": 3_000_000,
        "bytes": 1,
        "connect_errors": 0,
        "read_errors": 0,
        "write_errors": 0,
        "status_errors": 2,
        "timeouts": 1,
        "wrong": 7,
        "latency_mean_us": 1500.0,
        "latency_max_us": 9000,
        "percentiles_us": {"50": 1000, "90": 2000, "95": 3000, "99": 4000, "99.9": 5000},
    }
    raw.update(over)
    return "Running 3s test\nWRKJSON " + json.dumps(raw) + "\n"


def test_a_result_keeps_rate_errors_and_wrong_answers() -> None:
    rec = load.parse_result(_wrk_line(), connections=8, wall=3.2)
    assert rec["rps"] == 1000.0
    assert rec["errors"] == 3
    assert rec["wrong"] == 7
    assert rec["latency_ms"]["p99"] == 4.0
    assert wrong_percent(rec) == pytest.approx(100 * 7 / 3000)


def test_unchecked_answers_are_not_reported_as_correct() -> None:
    rec = load.parse_result(_wrk_line(wrong=-1), connections=8, wall=3.2)
    assert rec["wrong"] is None
    assert wrong_percent(rec) is None


def test_output_without_a_result_line_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no result"):
        load.parse_result("unable to connect to 127.0.0.1:1\n", connections=8, wall=0.1)


def test_the_script_is_told_how_many_threads_share_the_ids() -> None:
    path = Path(load._script("read.lua", 4))
    try:
        text = path.read_text()
    finally:
        path.unlink()
    assert text.splitlines()[0] == "WRK_THREADS = 4"
    # One script: common setup, then the read script, then the reporter.
    assert text.index("function setup") < text.index("request = function")
    assert text.index("request = function") < text.index("function done")
