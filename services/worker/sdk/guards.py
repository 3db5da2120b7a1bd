"""Executions resonate-sdk 0.8.1 would release forever, made to end.

When the SDK cannot even start a job's function it releases the task, and the
Resonate server offers a released task again at once: the job spins through
the worker group as fast as the network allows, for as long as it exists.
Two causes are known:

- **Task data this SDK cannot decode** (``DecodingError``): no execution can
  ever run the job, so it is failed at once, through the SDK's own fulfil
  path, with ``{"type": "DecodingError", "message"}`` as every failed job.
- **A function this worker does not have** (``FunctionNotFoundError``): during
  a rollout another worker may have it, so the task is still released, but
  only after a pause (its lease heartbeated meanwhile): the job waits for a
  worker that can run it, or for its timeout, at a bounded rate instead of a
  spin. (The gateway refuses kinds no worker advertised, so this needs a
  worker group that disagrees with itself.)

Internals used: ``Core.execute_until_blocked_inner`` (overridden in a subclass)
and ``_ExecFulfilled``; pinned by ``tests/worker/test_sdk_guards.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from resonate.core import _ExecFulfilled
from resonate.error import DecodingError, FunctionNotFoundError
from resonate.resonate import Resonate
from resonate.tree import Tree

from services.contract.outcome import failure_message

log = structlog.get_logger("longhaul.worker.guards")


def install_guards(resonate: Resonate, *, unknown_function_pause_s: float) -> None:
    """Give this client's engine the guarded start (its class is swapped for a subclass).

    ``Core`` is a msgspec Struct: a method cannot be replaced on the instance,
    but a subclass that adds no fields can take the instance's class.
    """
    core = resonate._core

    class GuardedCore(type(core)):  # type: ignore[misc]
        async def execute_until_blocked_inner(self, promise: Any, effects: Any) -> Any:
            try:
                return await super().execute_until_blocked_inner(promise, effects)
            except FunctionNotFoundError as exc:
                log.warning(
                    "no function for this job on this worker; releasing it after a pause",
                    job_id=promise.id,
                    function=exc.name,
                    version=exc.version,
                    pause_s=unknown_function_pause_s,
                )
                await asyncio.sleep(unknown_function_pause_s)
                raise
            except DecodingError as exc:
                log.error("job task data cannot be decoded; failing the job", job_id=promise.id)
                message = failure_message("DecodingError", f"the job cannot be started: {exc}", 1)
                return _ExecFulfilled(
                    state="rejected",
                    value=self.codec.encode({"message": message}),
                    tree=Tree(root_id=promise.id),
                )

    core.__class__ = GuardedCore
