"""What the worker's spans need from resonate-sdk 0.8.1 internals.

- **The root promise's tags.** The SDK acquires a job's task with its root
  promise, tags included, but gives the function a ``Context`` whose
  ``info.tags`` is always empty. ``install_root_tags`` subclasses the
  client's ``Core`` (like ``guards.py``) so that ``ROOT_TAGS`` holds the tags
  while the execution runs: the trace context the gateway stored there.
- **A span per ``ctx.run`` step.** A step runs as
  ``child.invoke_with_retry(...)`` on the context ``Context._child`` makes
  (replayed steps never get there: their stored result is read instead).
  ``step_context_class`` is a ``Context`` subclass whose ``_child`` makes
  more of itself and whose ``invoke_with_retry`` runs inside a span; the
  attempt's span gives the root context that class, for that execution only.

Both are installed only when tracing is on. Pinned by
``tests/worker/test_sdk_spans.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import StatusCode
from resonate.context import Context
from resonate.error import Suspended
from resonate.resonate import Resonate

#: The tags of the root promise of the execution running in this task.
ROOT_TAGS: ContextVar[Mapping[str, str] | None] = ContextVar("longhaul_root_tags", default=None)

STEP_OUTCOME = "longhaul.step.outcome"


def install_root_tags(resonate: Resonate) -> None:
    """Make ``ROOT_TAGS`` hold the root promise's tags during each execution."""
    core = resonate._core

    class RootTagsCore(type(core)):  # type: ignore[misc]
        async def execute_until_blocked_inner(self, promise: Any, effects: Any) -> Any:
            token = ROOT_TAGS.set(promise.tags)
            try:
                return await super().execute_until_blocked_inner(promise, effects)
            finally:
                ROOT_TAGS.reset(token)

    core.__class__ = RootTagsCore


def step_context_class(tracer: trace.Tracer) -> type[Context]:
    """A ``Context`` whose ``ctx.run`` steps (at any depth) each run in a span."""

    class TracedContext(Context):
        def _child(self, id: str, func_name: str, timeout_at: int) -> Context:
            child = super()._child(id, func_name, timeout_at)
            child.__class__ = type(self)
            return child

        async def invoke_with_retry(
            self, df: Any, payload: Any, policy: Any, *, coerce_args: bool = True
        ) -> Any:
            state = self._state
            with tracer.start_as_current_span(
                f"step {df.name}",
                attributes={
                    "longhaul.job.id": state.origin_id,
                    "longhaul.step.id": state.id,
                    "longhaul.step.function": df.name,
                },
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    value = await super().invoke_with_retry(
                        df, payload, policy, coerce_args=coerce_args
                    )
                except Suspended:
                    span.set_attribute(STEP_OUTCOME, "suspended")
                    raise
                except Exception as exc:
                    span.set_attribute(STEP_OUTCOME, "failed")
                    span.record_exception(exc)
                    span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200])
                    raise
                except BaseException as exc:
                    # A failure escalated to end the attempt (sdk/retry.py), a cancel.
                    span.set_attribute(STEP_OUTCOME, "ended")
                    span.set_status(StatusCode.ERROR, type(exc).__name__)
                    raise
                span.set_attribute(STEP_OUTCOME, "succeeded")
                return value

    return TracedContext
