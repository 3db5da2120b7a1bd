"""Traces across real processes: gunicorn gateway, workers, a worker SIGKILLed mid-step.

Every process exports OTLP/HTTP to a receiver in the test (``otlp_receiver``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.client import Api, ledger
from tests.integration.conftest import StackFactory
from tests.integration.otlp_receiver import ReceivedSpan, otlp_receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


def tracing_env(url: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "100"}


def named(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


def test_a_pipeline_job_stays_one_trace_across_a_worker_kill(make_stack: StackFactory) -> None:
    with otlp_receiver() as receiver:
        env = tracing_env(receiver.url)
        stack = make_stack(workers=2, ttl_s=3.0, gateway_env=env, worker_env=env)
        api = Api(stack.gateway_url)
        response = api.http.post(
            "/v1/jobs",
            json={"kind": "pipeline", "input": {"values": [1, 2, 3], "step_delay_s": 3.0}},
            headers={"traceparent": TRACEPARENT},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        deadline = time.monotonic() + 20
        while not ledger(stack.resonate_url, job_id, "compute_stats"):
            assert time.monotonic() < deadline, "the job never reached its second step"
            time.sleep(0.1)
        holder = ledger(stack.resonate_url, job_id, "compute_stats")[0].pid
        [victim] = [w for w in stack.workers if w.name == holder]
        [survivor] = [w for w in stack.workers if w.name != holder]
        # Mid-step: the first step ended (its span exported), the second runs for 3 s.
        receiver.wait_for(lambda spans: bool(named(spans, "step normalize")), timeout=2)
        assert not ledger(stack.resonate_url, job_id, "publish")
        victim.kill()
        assert api.wait_done(job_id, timeout=40)["status"] == "succeeded"

        def complete(spans: list[ReceivedSpan]) -> bool:
            return bool(named(spans, "step publish")) and bool(named(spans, "attempt pipeline"))

        spans = receiver.wait_for(complete)

    job_spans = [s for s in spans if s.name != "GET /v1/jobs/{job_id}"]
    assert {s.trace_id for s in job_spans} == {CLIENT_TRACE}, [s.name for s in job_spans]
    [submit] = named(job_spans, "POST /v1/jobs")
    assert submit.parent_span_id == CLIENT_SPAN
    assert submit.resource["service.name"] == "longhaul-gateway"

    # The victim's execution span never ended, so it was never exported; the
    # survivor's attempt 2 is a child of the request and links to the lost one.
    [second] = named(job_spans, "attempt pipeline")
    assert second.resource["service.instance.id"] == survivor.name
    assert second.attributes["longhaul.attempt"] == 2
    assert second.attributes["longhaul.execution.outcome"] == "succeeded"
    assert second.parent_span_id == submit.span_id
    [(link_trace, lost_span, link_attributes)] = second.links
    assert (link_trace, link_attributes) == (CLIENT_TRACE, {"longhaul.link": "lost_execution"})
    # The link comes from the lost execution's durable attempt marker.
    assert marker_tags(stack.resonate_url, f"{job_id}.exec.1")["longhaul:traceparent"] == (
        f"00-{CLIENT_TRACE}-{lost_span}-01"
    )

    # The first step ran once, on the victim, in the lost execution.
    [normalize] = named(job_spans, "step normalize")
    assert normalize.resource["service.instance.id"] == victim.name
    assert normalize.parent_span_id == lost_span
    # The interrupted step ran again on the survivor: a new span in the same trace.
    [compute] = named(job_spans, "step compute_stats")
    [publish] = named(job_spans, "step publish")
    for step in (compute, publish):
        assert step.resource["service.instance.id"] == survivor.name
        assert step.parent_span_id == second.span_id
        assert step.attributes["longhaul.job.id"] == job_id


def marker_tags(resonate_url: str, promise_id: str) -> dict[str, str]:
    import asyncio

    from resonate.resonate import Resonate

    async def read() -> dict[str, str]:
        client = Resonate(url=resonate_url, sources=[], env={}, subscription_refresh_secs=0)
        try:
            return dict((await client.promises.get(promise_id)).tags)
        finally:
            await client.stop()

    return asyncio.run(read())


def _parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_each_gunicorn_worker_exports_its_own_spans(make_stack: StackFactory) -> None:
    with otlp_receiver() as receiver:
        stack = make_stack(workers=1, web_concurrency=2, gateway_env=tracing_env(receiver.url))
        master = stack.gateway.pid
        for _ in range(30):  # a connection each: both web workers take some
            assert httpx.get(f"{stack.gateway_url}/v1/jobs/none.job-x").status_code == 404
        spans = receiver.wait_for(lambda spans: len(spans) >= 30)
        pids = {s.resource["process.pid"] for s in spans}
        assert master not in pids
        assert {_parent_pid(pid) for pid in pids} == {master}
        # Log lines written in a request carry its trace and span ids.
        lines = [
            json.loads(line)
            for line in (stack.log_dir / "gateway.log").read_text().splitlines()
            if line.startswith("{")
        ]
        requests = [line for line in lines if line.get("event") == "request"]
        exported = {(s.trace_id, s.span_id) for s in spans}
        assert requests and all((r["trace_id"], r["span_id"]) in exported for r in requests)
