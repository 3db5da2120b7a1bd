"""What services/worker/sdk_retry.py relies on in resonate-sdk 0.8.1; fails when the SDK changes."""

from __future__ import annotations

import inspect
import sys
from importlib.metadata import version

import pytest
from resonate.context import Context
from resonate.core import Core
from resonate.error import PlatformError, ResonateError
from resonate.testing import local_resonate

from longhaul import JobKind, PermanentError
from services.worker.sdk import SDK_VERSION
from services.worker.sdk import retry as sdk_retry
from services.worker.sdk.retry import (
    STEP_SCOPE,
    EscalatingStepPolicy,
    StepScope,
    install_step_policy,
    requested_retry,
)

pytestmark = pytest.mark.unit


def test_pinned_sdk_version() -> None:
    assert version("resonate-sdk") == SDK_VERSION == "0.8.1"


async def test_the_internals_it_uses_exist() -> None:
    assert "retry_policy" in Core.__struct_fields__
    resonate = local_resonate()
    install_step_policy(resonate)
    assert isinstance(resonate._core.retry_policy, EscalatingStepPolicy)
    # The SDK consults the policy inside the except block of a step's failure.
    source = inspect.getsource(Context.invoke_with_retry)
    assert "except Exception:" in source and "policy.next(attempt + 1)" in source
    assert "with suppress(Exception, Suspended)" in inspect.getsource(Context.flush_local_work)
    assert "except (ResonateError, PlatformError)" in inspect.getsource(
        Core.execute_until_blocked_outer
    )
    assert issubclass(sdk_retry.RetryRequested, ResonateError)
    await resonate.stop()


async def _fn(ctx, params):
    return None


def _kind(**extra) -> JobKind:
    from pydantic import BaseModel

    class In(BaseModel):
        pass

    return JobKind(name="k", summary="s", input_model=In, function=_fn, **extra)


def test_the_policy_escalates_only_retryable_failures_before_the_last_attempt() -> None:
    policy = EscalatingStepPolicy()

    def consult(error: Exception, scope: StepScope | None) -> BaseException | None:
        token = STEP_SCOPE.set(scope)
        try:
            try:
                raise error
            except Exception:
                assert sys.exc_info()[1] is error
                return policy.next(1)  # type: ignore[return-value]
        except PlatformError as exc:
            return requested_retry(exc)
        finally:
            STEP_SCOPE.reset(token)

    kind = _kind(permanent=(KeyError,))
    boom = ValueError("boom")
    assert consult(boom, StepScope(kind, final=False)) is boom
    assert consult(boom, StepScope(kind, final=True)) is None
    assert consult(KeyError("k"), StepScope(kind, final=False)) is None
    assert consult(PermanentError("p"), StepScope(kind, final=False)) is None
    assert consult(boom, None) is None  # outside a Longhaul job: the SDK's behaviour
