"""One job's spans, gateway to each step, in process, with an in-memory exporter."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.common.tracing import Tracing, start_tracing
from services.worker.jobs import JobDeps
from tests.support import (
    catalogue,
    create_app,
    gateway_settings,
    in_process_resonate,
    json_logging,
    running,
    worker_deps,
)

pytestmark = pytest.mark.unit

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


@dataclass
class Traced:
    exporter: InMemorySpanExporter
    worker: Tracing
    gateway_app: object
    client: object

    def spans(self) -> list[ReadableSpan]:
        self.worker.provider.force_flush()
        self.gateway_app.state.tracing.provider.force_flush()  # type: ignore[attr-defined]
        return list(self.exporter.get_finished_spans())


@pytest.fixture
async def traced() -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    settings = gateway_settings(otel_traces_exporter="console", otel_bsp_schedule_delay=10)
    worker = start_tracing(settings, "longhaul-worker", exporter=exporter)
    assert worker is not None
    deps: JobDeps = worker_deps(tracing=worker)
    kinds = catalogue()
    app = create_app(
        settings,
        resonate_factory=in_process_resonate(deps, kinds),
        catalogue=kinds,
        span_exporter=exporter,
    )
    async with running(app) as client:
        yield Traced(exporter, worker, app, client)
    worker.shutdown()


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


async def _settle(traced: Traced, job_id: str) -> dict:
    for _ in range(200):
        body = (await traced.client.get(f"/v1/jobs/{job_id}")).json()
        if body["status"] != "pending":
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


async def test_a_pipeline_job_is_one_trace_from_the_request_to_each_step(traced: Traced) -> None:
    response = await traced.client.post(
        "/v1/jobs",
        json={"kind": "pipeline", "input": {"values": [1, 2, 3]}},
        headers={"traceparent": TRACEPARENT},
    )
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert (await _settle(traced, job_id))["status"] == "succeeded"
    everything = traced.spans()
    # The status reads sent no traceparent: each is a trace of its own.
    reads = [s for s in everything if s.name == "GET /v1/jobs/{job_id}"]
    assert reads and all(s.context.trace_id != int(CLIENT_TRACE, 16) for s in reads)
    spans = [s for s in everything if s not in reads]
    assert {_hex(s.context.trace_id, 32) for s in spans} == {CLIENT_TRACE}
    by_id = {s.context.span_id: s for s in spans}
    [submit] = [s for s in spans if s.name == "POST /v1/jobs"]
    assert submit.kind == SpanKind.SERVER
    assert _hex(submit.parent.span_id, 16) == CLIENT_SPAN
    assert submit.resource.attributes["service.name"] == "longhaul-gateway"
    assert submit.attributes["http.route"] == "/v1/jobs"

    [attempt] = [s for s in spans if s.name == "attempt pipeline"]
    assert attempt.parent.span_id == submit.context.span_id
    assert attempt.resource.attributes["service.name"] == "longhaul-worker"
    assert attempt.attributes["longhaul.job.id"] == job_id
    assert attempt.attributes["longhaul.attempt"] == 1
    assert attempt.attributes["longhaul.execution.outcome"] == "succeeded"

    steps = sorted((s for s in spans if s.name.startswith("step ")), key=lambda s: s.start_time)
    assert [s.name for s in steps] == ["step normalize", "step compute_stats", "step publish"]
    for step in steps:
        assert step.parent.span_id == attempt.context.span_id
        assert by_id[step.parent.span_id] is attempt
        assert step.attributes["longhaul.job.id"] == job_id
        assert step.attributes["longhaul.step.outcome"] == "succeeded"


async def test_a_job_submitted_without_traceparent_starts_its_own_trace(traced: Traced) -> None:
    response = await traced.client.post("/v1/jobs", json={"kind": "echo", "input": {"a": 1}})
    job_id = response.json()["id"]
    await _settle(traced, job_id)
    spans = traced.spans()
    [submit] = [s for s in spans if s.name == "POST /v1/jobs"]
    [attempt] = [s for s in spans if s.name == "attempt echo"]
    assert submit.parent is None
    assert attempt.context.trace_id == submit.context.trace_id
    assert attempt.parent.span_id == submit.context.span_id


async def test_log_lines_in_a_span_carry_its_ids(traced: Traced) -> None:
    stream = io.StringIO()
    with json_logging("gateway", stream, trace_ids=True) as lines:
        # The request logger is built with the app; build one under this configuration.
        from services.common.logging import request_logger

        log = request_logger("longhaul.test")
        tracer = traced.worker.tracer
        with tracer.start_as_current_span("outer") as span:
            log("inside")
        log("outside")
    context = span.get_span_context()
    inside, outside = lines()
    assert inside["trace_id"] == _hex(context.trace_id, 32)
    assert inside["span_id"] == _hex(context.span_id, 16)
    assert "trace_id" not in outside and "span_id" not in outside


async def test_a_retried_job_keeps_one_trace_and_each_attempt_is_a_span(traced: Traced) -> None:
    response = await traced.client.post(
        "/v1/jobs",
        json={"kind": "flaky", "input": {"fail_times": 1}},
        headers={"traceparent": TRACEPARENT},
    )
    job_id = response.json()["id"]
    done = await _settle(traced, job_id)
    assert done["status"] == "succeeded" and done["result"]["succeeded_at_attempt"] == 2
    spans = [s for s in traced.spans() if s.context.trace_id == int(CLIENT_TRACE, 16)]
    [submit] = [s for s in spans if s.name == "POST /v1/jobs"]
    attempts = sorted(
        (s for s in spans if s.name == "attempt flaky"),
        key=lambda s: s.attributes["longhaul.attempt"],
    )
    assert [a.attributes["longhaul.attempt"] for a in attempts] == [1, 2]
    assert [a.attributes["longhaul.execution.outcome"] for a in attempts] == [
        "released",
        "succeeded",
    ]
    assert all(a.parent.span_id == submit.context.span_id for a in attempts)
    # An attempt that failed and was retried is not a lost one: no link.
    assert not attempts[1].links
    # The completed step ran once, in attempt 1; attempt 2 replayed it (no span).
    [prepare] = [s for s in spans if s.name == "step prepare"]
    assert prepare.parent.span_id == attempts[0].context.span_id


async def test_tracing_off_leaves_fastapi_telemetry_and_the_log_chain_as_they_were() -> None:
    from services.common.logging import add_trace_ids
    from services.gateway.app import create_app as build

    app = build(gateway_settings(), resonate_factory=in_process_resonate(worker_deps()))
    assert app.state.tracing is None
    assert app._telemetry["tracing"] is False and app._telemetry["tracer_provider"] is None
    assert not app._native_telemetry.enabled()
    with json_logging("gateway", io.StringIO()):
        import structlog

        assert add_trace_ids not in structlog.get_config()["processors"]
