"""How busy this worker's execution slots are (resonate-sdk 0.8.1 internals).

The SDK runs every ``execute`` message under one ``asyncio.Semaphore`` of
``max_concurrent_tasks`` permits (``Resonate._runtime.execute_sema``), held from
``task.acquire`` to fulfil or suspend. A message that finds no free permit
waits on the semaphore *before* acquiring its task, so it is work this worker
has received and not started: the server still sees the task pending. Both
numbers are read from the semaphore at scrape time; nothing is counted twice
and nothing drifts when an execution ends in an unusual way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from resonate.resonate import Resonate


@dataclass(frozen=True)
class SlotUsage:
    #: Permits in all (``LONGHAUL_WORKER_CONCURRENCY``).
    slots: int
    #: Permits held: tasks acquired and executing (a suspended task holds none).
    busy: int
    #: ``execute`` messages received and waiting for a permit.
    queued: int


class SlotGauge:
    """Reads ``resonate``'s execution semaphore; built once, read at every scrape."""

    def __init__(self, resonate: Resonate, slots: int) -> None:
        self._sema: asyncio.Semaphore = resonate._runtime.execute_sema
        self._slots = slots

    def usage(self) -> SlotUsage:
        free = self._sema._value
        waiters = self._sema._waiters or ()
        # A waiter woken by a release is done but not yet removed; it is about
        # to hold a permit, not waiting for one.
        queued = sum(1 for waiter in waiters if not waiter.done())
        busy = min(max(self._slots - free, 0), self._slots)
        return SlotUsage(self._slots, busy, queued)
