"""The dev server's retention sweep: the rule of ``services/common/retention.py``, in memory.

Every ``LONGHAUL_DEVSERVER_RETENTION_SWEEP_S`` the sweep asks the state what the
rule deletes, removes it (promises with their tasks, callbacks, listeners,
timeouts and index entries: ``IndexedServerState.delete``) and journals the
ids as one ``delete`` row before anything else can be applied, so a restart
replays the deletion rather than resurrecting the promises. It then queues a
snapshot with compaction (``SqliteStore.snapshot(compact=True)``): the journal
rows and the old snapshot's pages go back to the file system.

Finding the groups walks every origin once (no I/O, no await): about a
millisecond per thousand jobs on the event loop, at the sweep interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgspec
import structlog
from prometheus_client import CollectorRegistry, Counter

from services.common.retention import RetentionPolicy
from services.devserver.reference_state import ReferenceState
from services.devserver.store import MemoryStore, SqliteStore

log = structlog.get_logger("longhaul.devserver")


@dataclass(frozen=True)
class SweepResult:
    groups: int
    adverts: int
    promises: int
    tasks: int
    seconds: float


class Sweeper:
    def __init__(
        self,
        policy: RetentionPolicy,
        registry: CollectorRegistry,
    ) -> None:
        self.policy = policy
        self.deleted = Counter(
            "longhaul_devserver_retention_deleted",
            "What the dev server's retention sweep deleted (what: groups, adverts, promises, "
            "tasks).",
            ["what"],
            registry=registry,
        )
        self.totals = {"groups": 0, "adverts": 0, "promises": 0, "tasks": 0}

    async def sweep_once(
        self, state: ReferenceState, store: MemoryStore | SqliteStore, now_ms: int
    ) -> SweepResult | None:
        started = time.perf_counter()
        ids, groups, adverts = state.expired(self.policy, now_ms)
        if not ids:
            return None
        promises, tasks = state.delete(ids)
        # No await since ``expired``: the journal order is the apply order.
        seq = store.append(now_ms, "delete", msgspec.json.encode(ids))
        store.snapshot(state.dump(), compact=True)
        result = SweepResult(groups, adverts, promises, tasks, time.perf_counter() - started)
        for what in self.totals:
            count = getattr(result, what)
            self.totals[what] += count
            self.deleted.labels(what).inc(count)
        log.info(
            "retention sweep deleted",
            groups=groups,
            adverts=adverts,
            promises=promises,
            tasks=tasks,
            seconds=round(result.seconds, 3),
            left=state.counts(),
        )
        await store.durable(seq)
        return result
