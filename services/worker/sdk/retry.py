"""Job-level retries on top of resonate-sdk 0.8.1 (its internals).

What the SDK gives and what it lacks:

- A failed ``ctx.run`` step is retried *in place* by the context's default
  retry policy, and once that says stop the step's promise is settled
  rejected: a later execution of the job replays the rejection, so a job
  could never retry a failed step. Longhaul instead installs
  ``EscalatingStepPolicy`` as that default: on a retryable failure before the
  job's last attempt it raises ``PlatformError(RetryRequested)``, a
  ``BaseException`` that leaves the step's promise pending, bypasses the job
  code's ``except Exception`` and reaches the job's entry point
  (``execution.py``), which ends the attempt. The policy reads the failure
  from ``sys.exc_info()``: the SDK consults it inside the ``except`` block of
  ``Context.invoke_with_retry``.
- A ``PlatformError`` leaving the registered function makes the SDK release
  the task, and the server hands it out again at once. That is how an attempt
  ends and the next one starts, on a clean context: completed steps replay from
  their stored results, the failed step (still pending) runs again.

Pinned to resonate-sdk 0.8.1; ``tests/worker/test_sdk_retry.py`` fails if the
SDK changes any of it.
"""

from __future__ import annotations

import contextlib
import sys
from contextvars import ContextVar
from dataclasses import dataclass

from resonate.context import Context
from resonate.error import PlatformError, ResonateError
from resonate.resonate import Resonate

from longhaul.kinds import JobKind


class RetryRequested(ResonateError):
    """Carries a job's failure from a step to the job's entry point."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        super().__init__(f"retry requested after {type(error).__name__}: {error}")


@dataclass(frozen=True)
class StepScope:
    """What a step's failure means in the attempt running in this task."""

    kind: JobKind
    final: bool


#: Set by the job's entry point around its function; steps inherit it (asyncio
#: tasks copy the context they are created in).
STEP_SCOPE: ContextVar[StepScope | None] = ContextVar("longhaul_step_scope", default=None)


class EscalatingStepPolicy:
    """The SDK's RetryPolicy for ``ctx.run`` steps inside Longhaul jobs."""

    def next(self, attempt: int) -> int | None:
        scope = STEP_SCOPE.get()
        error = sys.exc_info()[1]
        if scope is None or error is None or scope.final or scope.kind.is_permanent(error):
            # Settle the step rejected: the job's code sees the exception.
            return None
        raise PlatformError([RetryRequested(error)])


def install_step_policy(resonate: Resonate) -> None:
    """Make ``EscalatingStepPolicy`` the default of every step this client runs."""
    resonate._core.retry_policy = EscalatingStepPolicy()


def requested_retry(exc: PlatformError) -> BaseException | None:
    """The job failure a step escalated, or None for a genuine platform failure."""
    for cause in exc.causes:
        if isinstance(cause, RetryRequested):
            return cause.error
    return None


def end_attempt(error: BaseException) -> PlatformError:
    """What the entry point raises to end this attempt: the SDK releases the task."""
    return PlatformError([RetryRequested(error)])


async def join_steps(ctx: Context) -> None:
    """Wait for the attempt's steps still running, so none outlives the released lease."""
    with contextlib.suppress(PlatformError):
        await ctx.flush_local_work()
