"""A kind's entry point on the worker: attempts, retries, and the failure users see.

The worker registers ``entry_point(kind, ...)``, not the kind's function. Each
execution of a job:

1. claims its attempt marker (``attempts.py``); when the kind's
   ``max_attempts`` are used up by earlier executions, the job fails now
   instead of running again: no job spins on a failure that repeats;
2. validates the stored input with the kind's model (a permanent failure);
3. runs the kind's function, with ``longhaul.attempt(ctx)`` telling it its
   attempt;
4. on success, validates the result with the output model (if any) and checks
   it can be stored as JSON (no NaN or infinity), then returns it;
5. on a retryable failure before the last attempt: records it, waits the
   policy's backoff and ends the attempt (``sdk.retry.end_attempt``); the
   next one replays completed steps and runs the failed one again;
6. otherwise (a permanent error, or the last attempt) rejects the job with
   ``{"type", "message"}`` and the attempt count, never a pickle, and a
   traceback only when ``LONGHAUL_WORKER_ERROR_TRACEBACKS`` asks for one.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import ValidationError
from resonate.context import Context
from resonate.error import PlatformError, Suspended

from longhaul._runtime import CURRENT_ATTEMPT
from longhaul.kinds import DurableFunction, JobKind
from services.common.tracing import trace_tags
from services.contract.outcome import failure_message, wrap_result
from services.worker.attempts import AttemptLog, History
from services.worker.job_spans import note_attempt
from services.worker.sdk.retry import (
    STEP_SCOPE,
    StepScope,
    end_attempt,
    join_steps,
    requested_retry,
)

log = structlog.get_logger("longhaul.worker.execution")
TRACEBACK_LIMIT = 8000


class JobFailure(Exception):
    """The job's final failure; its message is the JSON the gateway reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        # The SDK pickles a rejection's exception next to its message when it
        # can; a pickle is nothing a gateway may load, so none is written.
        raise TypeError("a JobFailure is stored as its message only")


def failure(
    error_type: str, message: str, attempts: int, error: BaseException | None, tracebacks: bool
) -> JobFailure:
    trace = None
    if tracebacks and error is not None:
        trace = "".join(traceback.format_exception(error))[-TRACEBACK_LIMIT:]
    return JobFailure(failure_message(error_type, message, attempts, trace))


def storable(result: Any) -> Any:
    """The result as JSON stores it, or ValueError (NaN, infinity, non-JSON types)."""
    try:
        return json.loads(json.dumps(result, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the result cannot be stored as JSON: {exc}") from exc


def entry_point(
    kind: JobKind,
    function: DurableFunction,
    attempts: AttemptLog,
    *,
    tracebacks: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DurableFunction:
    retry = kind.retry

    async def run(ctx: Context, payload: Any) -> Any:
        history = await attempts.begin(ctx.info.id, ctx.info.timeout_at, trace_tags())
        note_attempt(history)
        try:
            outcome = await attempt_once(ctx, payload, history)
        except JobFailure:
            await attempts.finished(history)
            raise
        await attempts.finished(history)
        return outcome

    async def attempt_once(ctx: Context, payload: Any, history: History) -> Any:
        attempt = history.attempt
        if history.failed >= retry.max_attempts:
            last = history.last_error or {"type": "Error", "message": "failed"}
            raise failure(last["type"], last["message"], history.failed, None, tracebacks)
        try:
            params = kind.input_model.model_validate(payload)
        except ValidationError as exc:
            raise failure("ValidationError", str(exc), attempt, exc, tracebacks) from None

        final = attempt >= retry.max_attempts
        attempt_token = CURRENT_ATTEMPT.set(attempt)
        scope_token = STEP_SCOPE.set(StepScope(kind, final))
        try:
            result = await function(ctx, params)
        except Suspended:
            await attempts.suspended(history)
            raise
        except PlatformError as exc:
            escalated = requested_retry(exc)
            if escalated is None:
                await _platform_failure(ctx, exc, history, attempt)
                raise
            error: BaseException = escalated
        except Exception as exc:
            error = exc
        else:
            return _finish(result, attempt)
        finally:
            STEP_SCOPE.reset(scope_token)
            CURRENT_ATTEMPT.reset(attempt_token)

        error_type, message = type(error).__name__, str(error)
        if final or kind.is_permanent(error):
            raise failure(error_type, message, attempt, error, tracebacks) from None
        await attempts.failed(history, error_type, message)
        delay = retry.delay_s(attempt)
        log.warning(
            "job attempt failed, retrying",
            kind=kind.name,
            job_id=ctx.info.id,
            attempt=attempt,
            max_attempts=retry.max_attempts,
            retry_in_s=delay,
            error_type=error_type,
            error=message[:500],
        )
        await sleep(delay)
        await join_steps(ctx)
        raise end_attempt(error)

    def _finish(result: Any, attempt: int) -> Any:
        try:
            if kind.output_model is not None:
                result = kind.output_model.model_validate(result).model_dump(mode="json")
            result = storable(result)
        except (ValidationError, ValueError) as exc:
            raise failure("InvalidResult", str(exc), attempt, exc, tracebacks) from None
        return wrap_result(result, attempt)

    async def _platform_failure(
        ctx: Context, exc: PlatformError, history: History, attempt: int
    ) -> None:
        # The SDK releases the task after this and the server hands it out at
        # once: recording the cause and backing off first is what keeps a
        # failure that repeats on every replay from spinning.
        cause = exc.cause
        log.warning(
            "job execution hit a platform failure",
            kind=kind.name,
            job_id=ctx.info.id,
            attempt=attempt,
            error_type=type(cause).__name__,
            error=str(cause)[:500],
        )
        try:
            await attempts.failed(history, type(cause).__name__, str(cause))
        except Exception as record_error:  # the marker stays pending: still counted
            log.warning("could not record the failure", error=str(record_error))
        await sleep(retry.delay_s(attempt))

    run.__name__ = run.__qualname__ = f"job_{kind.name.replace('-', '_')}"
    return run
