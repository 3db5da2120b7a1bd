"""What ``services/worker/sdk/spans.py`` relies on inside resonate-sdk 0.8.1.

An SDK upgrade that moves where a step runs or where the root promise is
handed to the engine fails here, instead of silently dropping the spans.
"""

from __future__ import annotations

import inspect

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from resonate.context import Context
from resonate.core import Core
from resonate.testing import local_resonate

from services.worker.sdk.spans import ROOT_TAGS, install_root_tags, step_context_class

pytestmark = pytest.mark.unit


def test_the_internals_the_spans_use_have_their_shape() -> None:
    assert list(inspect.signature(Core.execute_until_blocked_inner).parameters) == [
        "self",
        "promise",
        "effects",
    ]
    assert list(inspect.signature(Context._child).parameters) == [
        "self",
        "id",
        "func_name",
        "timeout_at",
    ]
    invoke = inspect.signature(Context.invoke_with_retry).parameters
    assert list(invoke) == ["self", "df", "payload", "policy", "coerce_args"]
    run = inspect.getsource(Context.run)
    # A step runs on the context _child makes, through its invoke_with_retry.
    assert "child = self._child(" in run and "await child.invoke_with_retry(" in run
    assert "origin_id" in inspect.signature(Context.root).parameters


async def test_root_tags_and_step_spans_on_the_sdk() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced_context = step_context_class(provider.get_tracer("test"))
    seen: dict[str, object] = {}

    async def inner(ctx: Context, n: int) -> int:
        return n + 1

    async def outer(ctx: Context, n: int) -> int:
        return await ctx.run(inner, n) * 10

    async def job(ctx: Context, n: int) -> int:
        seen["tags"] = ROOT_TAGS.get()
        ctx.__class__ = traced_context
        return await ctx.run(outer, n)

    resonate = local_resonate()
    install_root_tags(resonate)
    resonate.register(job, name="job")
    try:
        assert await resonate.rpc("root-1", "job", 1).result() == 20
    finally:
        await resonate.stop()
    assert isinstance(seen["tags"], dict) and seen["tags"]["resonate:origin"] == "root-1"
    assert ROOT_TAGS.get() is None
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"step outer", "step inner"}
    assert spans["step inner"].parent.span_id == spans["step outer"].context.span_id
    assert spans["step outer"].attributes["longhaul.step.id"] == "root-1:1"
    assert spans["step inner"].attributes["longhaul.job.id"] == "root-1"
