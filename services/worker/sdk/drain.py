"""Graceful drain of a Resonate worker (resonate-sdk 0.8.1 internals).

``Resonate.stop()`` closes the HTTP connection before joining
running jobs, so a job in flight could neither fulfil nor release its task and
would sit out its lease. Draining instead means: refuse new ``execute``
messages, close the SSE source (the server routes new work to other workers
at once), let running executions finish, release the leases still held at the
deadline (the server re-dispatches them immediately), and only then stop.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from resonate.resonate import Resonate

log = structlog.get_logger("longhaul.worker.drain")


def held_tasks(resonate: Resonate) -> dict[str, int]:
    """Tasks this process holds a lease on (id -> version), as the heartbeat sees them."""
    return dict(getattr(resonate._heartbeat, "active_tasks", {}))


async def drain(resonate: Resonate, timeout_s: float, release_timeout_s: float = 5.0) -> int:
    """Stop taking work, wait for running work, release the rest. Returns tasks released."""
    runtime = resonate._runtime
    runtime.stopping = True
    if resonate._source is not None:
        with contextlib.suppress(Exception):
            await resonate._source.stop()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    # Polled: the heartbeat's task table is the SDK's, it offers no event to await.
    while held_tasks(resonate) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)

    leftover = held_tasks(resonate)
    for task in list(runtime.bg_tasks):
        task.cancel()
    released = 0
    for task_id, task_version in leftover.items():
        try:
            async with asyncio.timeout(release_timeout_s):
                await resonate._sender.task_release(task_id, task_version)
            released += 1
        except Exception as exc:  # the lease then expires on its own
            log.warning("task release failed", task_id=task_id, error=str(exc))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(resonate.stop(), timeout=release_timeout_s)
    return released
