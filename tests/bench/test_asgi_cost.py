"""bench/asgi_cost.py measures real reads: a dev server's answer, replayed through the SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.phases import expected_status

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("app", ["longhaul", "reference", "ceiling"])
def test_each_app_reads_the_completed_job(app: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.asgi_cost", app, "200", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["us_per_read"] > 0
    body = result["body"]
    # wrk counts an answer without this text as wrong: it must match the bytes sent.
    assert expected_status(app, "completed") in result["body_text"]
    if app == "longhaul":
        assert body["status"] == "succeeded"
        assert body["result"] == {"message": "hello", "n": 1}
        assert body["id"] == "default.job-asgi-cost"
    elif app == "reference":
        assert body == {
            "status": "resolved",
            "promise_id": "default.job-asgi-cost",
            "result": {"message": "hello", "n": 1},
        }
