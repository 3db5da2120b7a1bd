"""How busy this worker's execution slots are (resonate-sdk 0.8.1 internals).

The SDK runs every ``execute`` message under one ``asyncio.Semaphore`` of
``max_concurrent_tasks`` permits (``Resonate._runtime.execute_sema``), held from
``task.acquire`` to fulfil or suspend: busy slots are the permits held, read
from the semaphore at scrape time.

A message that finds no free permit waits on the semaphore *before* acquiring
its task: work received and not started (the server still sees the task
pending). The server offers such a task again every ``tasks.retry_timeout``
(nobody has acquired it), so a worker can hold several copies of one task in
its queue: counting the semaphore's waiters would count it twice, and more
with every retry period. ``SlotGauge`` counts distinct task ids instead: one
more receiver on the SDK's transport adds the id of every ``execute`` message
(the SDK's own receiver spawns its execution in the same callback loop, before
it can run), and the ``task.acquire`` that the execution sends once it holds a
permit removes it. A copy offered to *another* worker is counted there too
(docs/scaling.md#what-the-signal-does-not-see).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass

from resonate.resonate import Resonate
from resonate.transport import ExecuteMsg, Message


@dataclass(frozen=True)
class SlotUsage:
    #: Permits in all (``LONGHAUL_WORKER_CONCURRENCY``).
    slots: int
    #: Permits held: tasks acquired and executing (a suspended task holds none).
    busy: int
    #: Distinct tasks delivered to this worker and not acquired yet.
    queued: int


class SlotGauge:
    """Installed on ``resonate`` once, after it started; read at every scrape."""

    def __init__(self, resonate: Resonate, slots: int) -> None:
        runtime = resonate._runtime
        self._sema: asyncio.Semaphore = runtime.execute_sema
        self._slots = slots
        self._waiting: set[str] = set()

        def received(msg: Message) -> None:
            if isinstance(msg, ExecuteMsg) and not runtime.stopping:  # dropped when stopping
                self._waiting.add(msg.task_id)

        resonate._transport.recv(received)

        sender = resonate._sender
        acquire = sender.task_acquire

        @functools.wraps(acquire)
        async def task_acquire(id: str, *args, **kwargs):
            # The first copy to hold a permit is the task's execution; a copy
            # still waiting only fails its acquire when its turn comes.
            self._waiting.discard(id)
            return await acquire(id, *args, **kwargs)

        # An instance attribute: Core holds this same Sender and calls
        # ``self.sender.task_acquire`` once the permit is held.
        sender.task_acquire = task_acquire  # type: ignore[method-assign]

    def usage(self) -> SlotUsage:
        busy = min(max(self._slots - self._sema._value, 0), self._slots)
        return SlotUsage(self._slots, busy, len(self._waiting))
