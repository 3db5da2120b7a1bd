"""Every job this worker settles, as the server recorded it (resonate-sdk 0.8.1 internals).

A job ends on a worker when the SDK fulfils its task: ``Core`` calls
``Sender.task_fulfill`` with the settle of the task's root promise, and the
server answers with the settled promise record: its state, its tags and the
server's own ``created_at`` and ``settled_at``. ``on_settled`` wraps that one
call on this client's ``Sender`` so the worker learns a job's latency from the
server's clocks, once per settle that succeeded: an execution that lost its
lease (a duplicate) is refused by the server and observes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import structlog
from resonate.resonate import Resonate
from resonate.types import PromiseRecord

log = structlog.get_logger("longhaul.worker.sdk")

Settled = Callable[[PromiseRecord], None]


def on_settled(resonate: Resonate, callback: Settled) -> None:
    """Call ``callback(record)`` after every successful ``task.fulfill`` of this client."""
    sender = resonate._sender
    fulfill = sender.task_fulfill

    @functools.wraps(fulfill)
    async def task_fulfill(id: str, version: int, action):
        record = await fulfill(id, version, action)
        try:
            callback(record)
        except Exception:  # a metric must never fail a settle that happened
            log.exception("settle observer failed", promise_id=record.id)
        return record

    # An instance attribute: Core holds this same Sender and calls
    # ``self.sender.task_fulfill``, which now finds the wrapper first.
    sender.task_fulfill = task_fulfill  # type: ignore[method-assign]
