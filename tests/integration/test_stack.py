"""Real processes on loopback: dev server, gunicorn gateway (2 workers), worker processes."""

from __future__ import annotations

import signal
import time
import uuid

import httpx
import pytest

from services.stack.local import LocalStack
from tests.integration.client import Api, ledger, metric_sum
from tests.integration.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def worker_urls(stack: LocalStack) -> list[str]:
    return [w.spec.ready_url.rsplit("/", 1)[0] for w in stack.workers if w.spec.ready_url]


def test_submit_to_result_for_every_kind(make_stack: StackFactory) -> None:
    stack = make_stack()
    api = Api(stack.gateway_url)
    echo = api.submit_ok("echo", {"msg": "hi"})
    nap = api.submit_ok("sleep", {"seconds": 1})
    report = api.submit_ok("pipeline", {"values": [3, 1, 2]})
    assert api.wait_done(echo)["result"] == {"msg": "hi"}
    assert api.wait_done(nap)["result"] == {"slept": 1.0}
    stats = api.wait_done(report)["result"]["stats"]
    assert (stats["min"], stats["max"], stats["count"]) == (1, 3, 3)


def test_contract_over_http(make_stack: StackFactory) -> None:
    stack = make_stack()
    api = Api(stack.gateway_url)
    key = f"int-replay-{uuid.uuid4().hex}"  # a shared Resonate server has seen any fixed key
    first = api.submit("echo", {"n": 1}, key=key)
    done = api.wait_done(first.json()["id"])
    assert done["status"] == "succeeded"
    replay = api.submit("echo", {"n": 1}, key=key)
    assert replay.status_code == 202 and replay.json()["id"] == first.json()["id"]
    time.sleep(0.5)
    executions = metric_sum(
        worker_urls(stack), "longhaul_worker_executions_started_total", kind="echo"
    )
    assert executions == 1

    conflict = api.submit("echo", {"n": 2}, key=key)
    assert conflict.status_code == 422
    assert api.http.get("/v1/jobs/job-missing").status_code == 404

    long = api.submit_ok("sleep", {"seconds": 600})
    canceled = api.http.delete(f"/v1/jobs/{long}")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert api.job(long)["status"] == "canceled"
    assert api.http.delete(f"/v1/jobs/{first.json()['id']}").status_code == 409

    metrics = httpx.get(f"{stack.gateway_url}/metrics").text
    # Both gunicorn workers' requests are summed in one scrape.
    assert 'longhaul_gateway_job_submissions_total{kind="echo",outcome="replayed"} 1.0' in metrics


def test_sigkilled_worker_jobs_complete_on_another_worker(make_stack: StackFactory) -> None:
    ttl = 3.0
    stack = make_stack(workers=2, ttl_s=ttl)
    api = Api(stack.gateway_url)
    jobs = [
        api.submit_ok("pipeline", {"values": [i, i + 1], "step_delay_s": 1.0}) for i in range(8)
    ]
    # Wait until every job has completed its first step and entered the second
    # (the ledger records a step as it starts), so each one is mid-flight.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(ledger(stack.resonate_url, j, "compute_stats") for j in jobs):
            break
        time.sleep(0.2)
    victim = stack.workers[0]
    held_by_victim = [
        j for j in jobs if ledger(stack.resonate_url, j, "compute_stats")[0].pid == victim.name
    ]
    assert held_by_victim, "the victim should hold some jobs"
    killed_at, killed_wall_ms = time.monotonic(), time.time() * 1000
    victim.kill()

    finished = {j: api.wait_done(j, timeout=30) for j in jobs}
    recovery_s = time.monotonic() - killed_at
    assert {job["status"] for job in finished.values()} == {"succeeded"}
    for i, job_id in enumerate(jobs):
        assert finished[job_id]["result"]["stats"]["sum"] == 2 * i + 1
    # The completed step was not run again; the interrupted one was.
    for job_id in held_by_victim:
        assert len(ledger(stack.resonate_url, job_id, "normalize")) == 1
        assert len(ledger(stack.resonate_url, job_id, "compute_stats")) == 2
        publishers = {e.pid for e in ledger(stack.resonate_url, job_id, "publish")}
        assert publishers == {stack.workers[1].name}
    resumed_after_s = max(
        (ledger(stack.resonate_url, j, "compute_stats")[1].at_ms - killed_wall_ms) / 1000
        for j in held_by_victim
    )
    # Lease expiry (ttl) + tick + the remaining steps (<= 2 s) + scheduling slack.
    assert resumed_after_s < ttl + 2, f"resumed after {resumed_after_s:.1f}s"
    assert recovery_s < ttl + 2 + 4, f"recovery took {recovery_s:.1f}s"
    print(  # noqa: T201
        f"ttl={ttl}s: SIGKILL -> last job resumed elsewhere {resumed_after_s:.2f}s, "
        f"-> all its jobs completed {recovery_s:.2f}s"
    )


def test_sigterm_releases_held_jobs_at_the_drain_deadline(make_stack: StackFactory) -> None:
    # A long lease: if the drain did not release, recovery would take 60 s.
    stack = make_stack(workers=2, ttl_s=60, worker_env={"LONGHAUL_WORKER_DRAIN_TIMEOUT_S": "0.5"})
    api = Api(stack.gateway_url)
    jobs = [api.submit_ok("pipeline", {"values": [i], "step_delay_s": 2.0}) for i in range(4)]
    time.sleep(1.0)
    leaving = stack.workers[0]
    started = time.monotonic()
    leaving.signal(signal.SIGTERM)
    assert leaving.wait(10), "worker did not exit after SIGTERM"
    assert leaving.returncode() == 0
    assert time.monotonic() - started < 5
    for job_id in jobs:
        assert api.wait_done(job_id, timeout=30)["status"] == "succeeded"
    assert time.monotonic() - started < 20


def test_sigterm_lets_running_jobs_finish_within_the_drain(make_stack: StackFactory) -> None:
    stack = make_stack(workers=1, ttl_s=60, worker_env={"LONGHAUL_WORKER_DRAIN_TIMEOUT_S": "15"})
    api = Api(stack.gateway_url)
    job_id = api.submit_ok("pipeline", {"values": [1, 2], "step_delay_s": 1.0})
    time.sleep(0.8)
    worker = stack.workers[0]
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) and worker.returncode() == 0
    # The only worker is gone, yet the job is done: it finished during the drain.
    assert api.job(job_id)["status"] == "succeeded"


def test_gateway_killed_and_restarted_between_submit_and_poll(make_stack: StackFactory) -> None:
    stack = make_stack()
    api = Api(stack.gateway_url)
    job_id = api.submit_ok("sleep", {"seconds": 1})
    assert stack.gateway is not None
    stack.gateway.kill()
    with pytest.raises(httpx.TransportError):
        api.http.get("/healthz")
    stack.gateway.restart()
    assert Api(stack.gateway_url).wait_done(job_id)["result"] == {"slept": 1.0}


@pytest.mark.usefixtures("own_devserver")
def test_resonate_server_down_is_503_within_the_bound(make_stack: StackFactory) -> None:
    stack = make_stack(workers=1, gateway_env={"LONGHAUL_RESONATE_TIMEOUT_S": "1"})
    api = Api(stack.gateway_url)
    job_id = api.submit_ok("echo", {})
    assert stack.devserver is not None
    stack.devserver.kill()
    for method, path, body in [
        ("POST", "/v1/jobs", {"kind": "echo", "input": {}}),
        ("GET", f"/v1/jobs/{job_id}", None),
        ("GET", "/wait?id=x", None),
        ("GET", "/readyz", None),
    ]:
        started = time.monotonic()
        response = api.http.request(method, path, json=body)
        assert response.status_code == 503, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert time.monotonic() - started < 2.5
    assert api.http.get("/healthz").status_code == 200
