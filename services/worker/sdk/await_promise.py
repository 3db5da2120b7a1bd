"""Await a promise that already exists, by id, from inside a durable function.

resonate-sdk 0.8.1 awaits only promises it creates itself (``ctx.rpc``,
``ctx.sleep``, ``ctx.promise`` each mint a new child id): it has no
``ctx.get(id)``. The notifier must await the job's own promise, which the
gateway created first. This does what ``Context._await_remote`` does after its
create, with a read instead: a settled promise returns its record; a pending
one becomes an external child of the execution tree and a remote todo, and the
function unwinds with ``Suspended``. The SDK then suspends the task with a
callback on that promise (``task.suspend {awaited: [id]}``): the server resumes
the task when the promise settles, however it settles (a worker's fulfil, a
``promise.settle`` such as a cancel, the server's own timeout), with no process
holding anything meanwhile. On resumption the function runs again from the top
and this read finds the promise settled.

Pinned to 0.8.1: ``tests/worker/test_notify_sdk.py`` fails if the private names
below change.
"""

from __future__ import annotations

from resonate.context import Context
from resonate.error import PlatformError, ResonateError, Suspended
from resonate.promises import Promises
from resonate.types import PromiseRecord


async def await_existing(ctx: Context, promises: Promises, promise_id: str) -> PromiseRecord:
    """The settled record of ``promise_id``; suspends the calling function until then."""
    state = ctx._state
    # A durable op: this function is now a workflow and must never be retried
    # in place by the SDK (it would re-read, which is harmless, but the rule
    # is what keeps its later steps' ids stable).
    state.workflow = True
    try:
        record = await promises.get(promise_id)
    except ResonateError as exc:
        # A read that failed is no outcome of the function: the SDK releases
        # the task (a PlatformError) and it runs again, instead of settling.
        raise PlatformError([exc]) from exc
    if record.state != "pending":
        return record
    state.tree.add_child(state.id, promise_id, "ext")
    state.spawned_remote.append(promise_id)
    raise Suspended
