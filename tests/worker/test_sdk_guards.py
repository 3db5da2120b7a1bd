"""Jobs the SDK cannot start end, instead of spinning through release and re-offer.

On resonate-sdk 0.8.1's in-process server (``local_resonate``), which, like the
real one, offers a released task again at once.
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta
from typing import Any

import pytest
from resonate.core import Core, _ExecFulfilled
from resonate.error import DecodingError, FunctionNotFoundError
from resonate.testing import local_resonate
from resonate.types import TaskData, Value

from services.contract.outcome import read_failure
from services.worker.sdk.guards import install_guards

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def job_tags(job_id: str) -> dict[str, str]:
    return {
        "resonate:origin": job_id,
        "resonate:branch": job_id,
        "resonate:parent": job_id,
        "resonate:scope": "global",
        "resonate:target": "poll://any@default",
    }


def count_executions(resonate: Any) -> list[str]:
    """Record each start of a job's execution (the method the guards override)."""
    seen: list[str] = []

    class Counting(type(resonate._core)):  # type: ignore[misc]
        async def execute_until_blocked_inner(self, promise: Any, effects: Any) -> Any:
            seen.append(promise.id)
            return await super().execute_until_blocked_inner(promise, effects)

    resonate._core.__class__ = Counting
    return seen


async def run_for(resonate: Any, job_id: str, param: Value, seconds: float) -> Any:
    await resonate.promises.create(job_id, 2**62, param, job_tags(job_id))
    await asyncio.sleep(seconds)
    return await resonate.promises.get(job_id)


@pytest.mark.parametrize("guarded", [False, True])
async def test_a_job_whose_function_is_missing_is_handed_back_at_a_bounded_rate(
    guarded: bool,
) -> None:
    resonate = local_resonate(ttl=timedelta(seconds=60))
    seen = count_executions(resonate)
    if guarded:
        install_guards(resonate, unknown_function_pause_s=0.25)
    try:
        param = Value(data=TaskData(func="nobody-has-it", args=(), kwargs={}, version=1))
        record = await run_for(resonate, "job-missing", param, 1.0)
    finally:
        await resonate.stop()
    assert record.state == "pending"  # another worker may still have it
    if guarded:
        assert 1 <= len(seen) <= 5, len(seen)
    else:
        assert len(seen) > 20, "the SDK alone spins"


@pytest.mark.parametrize("guarded", [False, True])
async def test_a_job_whose_task_data_cannot_be_decoded_fails_once(guarded: bool) -> None:
    resonate = local_resonate(ttl=timedelta(seconds=60))
    seen = count_executions(resonate)
    if guarded:
        install_guards(resonate, unknown_function_pause_s=0.25)
    try:
        record = await run_for(resonate, "job-garbled", Value(data={"not": "task data"}), 1.0)
    finally:
        await resonate.stop()
    if not guarded:
        assert record.state == "pending" and len(seen) > 20, "the SDK alone spins"
        return
    assert record.state == "rejected"
    assert len(seen) == 1
    error, attempts = read_failure(record.value.data["message"])
    assert error["type"] == "DecodingError" and attempts == 1


def test_the_sdk_internals_the_guards_use() -> None:
    source = inspect.getsource(Core.execute_until_blocked_inner)
    assert "raise FunctionNotFoundError" in source and "raise DecodingError" in source
    assert "outcome = await self.execute_until_blocked_inner" in inspect.getsource(
        Core.execute_until_blocked_outer
    )
    assert set(_ExecFulfilled.__struct_fields__) == {"state", "value", "tree"}
    assert issubclass(FunctionNotFoundError, Exception) and issubclass(DecodingError, Exception)
