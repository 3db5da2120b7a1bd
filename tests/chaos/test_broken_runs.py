"""A checker that cannot fail proves nothing: real runs, deliberately broken, must fail.

One run on a real stack carries three defects at once, and the report must
name each: workers whose lease (30 s) is far longer than the deadline the
checker allows (it assumes 1 s), so the jobs a killed worker held come back
too late and are lost; a gateway answer faked by the client's transport (a
202 with an id that was never created); and a job whose expected result was
tampered with, which the worker's correct answer then contradicts.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest

from tests.chaos.runner import run_chaos
from tests.chaos.settings import ChaosSettings
from tests.chaos.targets import local_target
from tests.chaos.workload import make_workload

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

GHOST_ID = "job-never-created-0000000000000000"


class LyingGateway(httpx.AsyncBaseTransport):
    """Answers one key's submission with a 202 for a job it never creates."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.headers.get("Idempotency-Key") == self._key:
            return httpx.Response(202, json={"id": GHOST_ID, "kind": "pipeline"})
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        await self._real.aclose()


def test_checker_names_lost_jobs_fake_acks_and_wrong_results(
    tmp_path: Path, resonate_url: str | None
) -> None:
    settings = ChaosSettings(
        resonate_url=resonate_url,
        jobs=12,
        workers=2,
        ttl=1.0,  # what the checker assumes; the workers really hold 30 s leases
        duration=8,
        worker_kills=1,
        gateway_kills=0,
        gunicorn_kills=0,
        max_step_delay=1.0,
        grace=0.5,
        dispatch_retry=0,
        resubmit_sample=3,
        max_run=60,
    )
    jobs = make_workload(12, random.Random(4), f"broken-{random.getrandbits(32):08x}", 0.0, 4)
    for job in jobs:
        job.body["input"]["step_delay_s"] = 1.0  # every job is in flight for ~3 s
    tampered, ghost = jobs[5], jobs[7]
    tampered.expected["sum"] += 1.0

    with local_target(settings, tmp_path / "logs", random.Random(), worker_ttl=30) as target:
        report, run = asyncio.run(
            run_chaos(settings, target, jobs=jobs, transport=LyingGateway(ghost.key))
        )

    assert not report["ok"]
    found = {v["invariant"]: v for v in report["violations"]}
    # The fake 202: acknowledged, never created, so never completed.
    assert GHOST_ID in found["no_lost_jobs"]["examples"]
    assert report["jobs"]["lost_by_status"].get("not_found") == 1
    # The killed worker's jobs: its lease outlives the deadline, so they are lost.
    victim = run.faults[0].target
    held = {j.job_id for j in run.jobs if any(e.pid == victim for e in j.executions)}
    assert held, "the killed worker should have held jobs"
    assert held <= set(found["no_lost_jobs"]["examples"])
    # The tampered expectation: the worker's (correct) result no longer matches.
    assert found["correct_results"]["examples"] == [tampered.job_id]
    assert "sum" in found["correct_results"]["detail"]
