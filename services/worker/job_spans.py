"""A span per job execution, in the trace of the request that submitted the job.

``traced`` wraps a kind's registered function (outside ``instrumented``): its
span's parent is the trace context the gateway stored in the root promise's
tags, so every execution of a job, on any worker, after any crash, joins the
same trace. Each ``ctx.run`` step that actually runs is a child span
(``sdk/spans.py``); a step replayed from its stored result is not.

``note_attempt`` (called by ``execution.py`` once the attempt is claimed) adds
the attempt number and a link to each earlier execution that was lost (its
worker died): the lost execution's span was never exported, but the spans of
the steps it completed were, and their parent is the span this link names.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from resonate.context import Context
from resonate.error import PlatformError, Suspended

from services.common.tracing import Tracing, context_from_tags, span_context_from_tags
from services.worker.attempts import History
from services.worker.sdk.spans import ROOT_TAGS, step_context_class

DurableFn = Callable[..., Awaitable[Any]]
OUTCOME = "longhaul.execution.outcome"


def traced(kind: str, fn: DurableFn, tracing: Tracing) -> DurableFn:
    tracer = tracing.tracer
    context_class = step_context_class(tracer)

    @functools.wraps(fn)
    async def run(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        with tracer.start_as_current_span(
            f"attempt {kind}",
            context=context_from_tags(ROOT_TAGS.get() or {}),
            kind=SpanKind.CONSUMER,
            attributes={"longhaul.job.id": ctx.info.id, "longhaul.job.kind": kind},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            # This execution's steps run in spans (a fresh root context each execution).
            ctx.__class__ = context_class
            try:
                result = await fn(ctx, *args, **kwargs)
            except Suspended:
                span.set_attribute(OUTCOME, "suspended")
                raise
            except PlatformError as exc:
                # The attempt ended to be retried, or a platform failure: released.
                span.set_attribute(OUTCOME, "released")
                span.set_status(StatusCode.ERROR, str(exc.cause)[:200])
                raise
            except Exception as exc:
                span.set_attribute(OUTCOME, "failed")
                span.set_status(StatusCode.ERROR, str(exc)[:200])
                raise
            span.set_attribute(OUTCOME, "succeeded")
            return result

    return run


def note_attempt(history: History) -> None:
    """The current execution span learns its attempt and the executions lost before it."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("longhaul.attempt", history.attempt)
    span.set_attribute("longhaul.attempt.marker", history.marker)
    for tags in history.lost:
        lost = span_context_from_tags(tags)
        if lost is not None:
            span.add_link(lost, {"longhaul.link": "lost_execution"})
