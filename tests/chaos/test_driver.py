"""The load driver behaves as a careful client: same key and body on every retry, bounded."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

import httpx
import pytest

from tests.chaos.driver import Deadline, LoadDriver
from tests.chaos.model import JobRecord
from tests.chaos.workload import make_workload

pytestmark = pytest.mark.unit

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*steps: object) -> tuple[Handler, list[httpx.Request]]:
    """A gateway that answers from a script: a Response, or an exception to raise."""
    seen: list[httpx.Request] = []
    script = list(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, httpx.Response)
        return step

    return handle, seen


def driver(handler: Handler, budget: float = 5.0) -> LoadDriver:
    return LoadDriver(
        "http://gateway",
        concurrency=4,
        submit_budget_s=budget,
        poll_wait_s=0.1,
        rng=random.Random(0),
        transport=httpx.MockTransport(handler),
    )


def one_job() -> JobRecord:
    return make_workload(1, random.Random(3), "unit", 0.0, 3)[0]


def accepted(job_id: str) -> httpx.Response:
    return httpx.Response(202, json={"id": job_id, "kind": "pipeline", "status": "pending"})


def view(job_id: str, status: str, **extra: object) -> httpx.Response:
    return httpx.Response(200, json={"id": job_id, "kind": "pipeline", "status": status, **extra})


def soon(seconds: float = 5.0) -> Deadline:
    deadline = Deadline(hard=time.time() + 60)
    deadline.fix(time.time() + seconds)
    return deadline


async def test_retries_connection_errors_and_5xx_with_the_same_key_and_body() -> None:
    job = one_job()
    done = view("job-1", "succeeded", result={"stats": {}}, completed_at="2026-01-01T00:00:00Z")
    posts, posted = scripted(
        httpx.ConnectError("refused"),
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        accepted("job-1"),
    )
    gets, got = scripted(httpx.Response(502), view("job-1", "pending"), done)

    def route(request: httpx.Request) -> httpx.Response:
        return posts(request) if request.method == "POST" else gets(request)

    d = driver(route)
    await d.run([job], 0, soon())
    await d.aclose()

    assert job.job_id == "job-1" and job.submit_attempts == 4
    assert dict(job.submit_errors) == {"connect": 1, "http_503": 1, "timeout": 1}
    assert {r.headers["Idempotency-Key"] for r in posted} == {job.key}
    assert {r.content for r in posted} == {posted[0].content}
    assert json.loads(posted[0].content) == job.body
    assert job.status == "succeeded" and job.result == {"stats": {}}
    assert job.completed_at is not None and dict(job.poll_errors) == {"http_502": 1}
    assert len(got) == 3


async def test_a_client_error_is_not_retried() -> None:
    job = one_job()
    handler, seen = scripted(httpx.Response(422, json={"title": "Invalid job input"}))
    d = driver(handler)
    await d.run([job], 0, soon())
    await d.aclose()
    assert len(seen) == 1 and job.job_id is None
    assert job.rejected is not None and job.rejected.startswith("HTTP 422")


async def test_submission_gives_up_when_its_budget_is_spent() -> None:
    job = one_job()
    handler, seen = scripted(httpx.Response(503))
    d = driver(handler, budget=0.5)
    started = time.monotonic()
    await d.run([job], 0, soon())
    await d.aclose()
    assert time.monotonic() - started < 2.0
    assert job.job_id is None and job.rejected is not None and "no 202 within" in job.rejected
    assert len(seen) >= 3 and d.all_submitted.is_set()


async def test_a_404_after_a_202_is_read_again_until_the_deadline() -> None:
    job = one_job()

    def route(request: httpx.Request) -> httpx.Response:
        return accepted("job-ghost") if request.method == "POST" else httpx.Response(404)

    d = driver(route)
    started = time.monotonic()
    await d.run([job], 0, soon(0.8))
    await d.aclose()
    assert 0.7 < time.monotonic() - started < 3.0
    assert job.status == "not_found" and job.poll_errors["http_404"] >= 2


async def test_resubmission_records_the_id_and_result_it_got() -> None:
    job = one_job()
    job.job_id, job.status, job.result = "job-1", "succeeded", {"stats": {"sum": 1}}
    handler, seen = scripted(
        accepted("job-1"), view("job-1", "succeeded", result={"stats": {"sum": 1}})
    )
    d = driver(handler)
    await d.resubmit([job])
    await d.aclose()
    assert job.resubmitted_id == "job-1" and job.resubmitted_result == {"stats": {"sum": 1}}
    assert seen[0].headers["Idempotency-Key"] == job.key


async def test_a_202_without_a_job_id_is_retried_not_trusted() -> None:
    job = one_job()
    posts, _ = scripted(httpx.Response(202, text="<html>proxy</html>"), accepted("job-1"))

    def route(request: httpx.Request) -> httpx.Response:
        return posts(request) if request.method == "POST" else view("job-1", "succeeded")

    d = driver(route)
    await d.run([job], 0, soon())
    await d.aclose()
    assert job.job_id == "job-1" and job.submit_attempts == 2
    assert dict(job.submit_errors) == {"bad_body": 1}
