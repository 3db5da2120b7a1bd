"""A kind's code changes while one of its jobs is in flight (tests/rollout).

The rule (docs/rolling-updates.md): a resumed job replays its
completed steps from their stored results, matched by position; changing the
steps of a kind without a new version breaks the jobs in flight, and
``version`` + ``previous_versions`` is how to change them safely.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.client import Api
from tests.integration.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

V1 = {"LONGHAUL_JOB_MODULES": "services.kinds.builtin,tests.rollout.v1"}


def roll_out(make_stack: StackFactory, trace_dir: Path, new_module: str) -> tuple[dict, list]:
    """Start a v1 job, let it pause after its first step, replace the worker's code."""
    stack = make_stack(workers=1, ttl_s=3.0, gateway_env=V1, worker_env=V1)
    api = Api(stack.gateway_url)
    job_id = api.submit_ok("report", {"trace_dir": str(trace_dir), "pause_s": 3})
    trace = trace_dir / f"{job_id}.log"
    deadline = time.monotonic() + 15
    while not trace.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # suspended on its durable pause: no worker holds it
    stack.workers[0].stop(timeout=10)
    stack.add_worker(
        ttl_s=3.0, LONGHAUL_JOB_MODULES=f"services.kinds.builtin,tests.rollout.{new_module}"
    ).wait_ready()
    done = api.wait_done(job_id, timeout=40)
    return done, [line.split(" pid=")[0] for line in trace.read_text().splitlines()]


def test_a_new_version_keeps_jobs_in_flight_on_the_code_they_started_with(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    done, steps = roll_out(make_stack, tmp_path, "versioned")
    assert done["status"] == "succeeded", done
    assert done["result"] == {"report": "rows: 1,2,3", "code": "v1"}
    # load replayed from its stored result (not run again); render ran once.
    assert steps == ["load", "render"]


def test_reordering_steps_without_a_new_version_breaks_the_jobs_in_flight(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    done, steps = roll_out(make_stack, tmp_path, "reordered")
    # The new first step was matched with load's stored rows: they do not decode
    # as its result, every replay fails the same way, and the job fails within
    # its retry policy instead of finishing with the wrong code or spinning.
    assert done["status"] == "failed", done
    assert done["error"]["type"] == "SerializationError"
    assert steps == ["load"]
