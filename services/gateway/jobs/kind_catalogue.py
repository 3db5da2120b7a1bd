"""The gateway's view of the catalogue: definitions, and whether a worker runs them.

A kind is *available* while a worker running the same definition keeps
advertising it (``services/contract/adverts.py``): the gateway reads the
advert of the time bucket its clock is in. Submitting a kind that is not is
refused with ``503 kind-unavailable`` rather than accepted into a wait that no
worker would ever end.

The answer is cached so a submit rarely costs a Resonate read: a positive one
until the end of its bucket (at most one read per kind per bucket per
process while the kind is up), a negative one for ``recheck_s`` (a worker
that just started is seen that much later at most, and a kind nobody runs
costs one read per ``recheck_s`` however many submits ask for it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from longhaul.kinds import JobKind
from services.contract.adverts import BUCKET_S, advert_id, bucket_of
from services.contract.catalogue import Catalogue, describe
from services.gateway.edge.errors import Problem
from services.gateway.jobs.job_store import JobStore


class GatewayKinds:
    def __init__(
        self,
        catalogue: Catalogue,
        store: JobStore,
        *,
        require_workers: bool,
        retry_after_s: int,
        recheck_s: float = 1.0,
        bucket_s: float = BUCKET_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalogue = catalogue
        self._store = store
        self._require_workers = require_workers
        self._retry_after_s = retry_after_s
        self._recheck_s = recheck_s
        self._bucket_s = bucket_s
        # Wall clock: buckets are wall-clock time shared with the workers.
        self._clock = clock
        self._available_in: dict[str, int] = {}
        self._missing_at: dict[str, float] = {}

    def get(self, name: str) -> JobKind | None:
        return self.catalogue.get(name)

    async def available(self, kind: JobKind) -> bool:
        now = self._clock()
        bucket = bucket_of(now, self._bucket_s)
        if self._available_in.get(kind.name) == bucket:
            return True
        checked = self._missing_at.get(kind.name)
        # A clock stepped back leaves the negative answer for a fresh read.
        if checked is not None and 0 <= now - checked < self._recheck_s:
            return False
        if await self._store.exists(advert_id(self.catalogue.entry(kind.name), bucket)):
            self._available_in[kind.name] = bucket
            self._missing_at.pop(kind.name, None)
            return True
        self._available_in.pop(kind.name, None)
        self._missing_at[kind.name] = now
        return False

    async def require_worker(self, kind: JobKind) -> None:
        """Raise 503 unless a worker runs this kind's definition (when so configured)."""
        if not self._require_workers or await self.available(kind):
            return
        entry = self.catalogue.entry(kind.name)
        raise Problem(
            503,
            "kind-unavailable",
            "No worker runs this job kind",
            f"No worker running kind {kind.name!r} (module {entry.module!r}, version "
            f"{kind.version}, definition {entry.fingerprint}) has advertised it lately. Start "
            "workers whose LONGHAUL_JOB_MODULES include that module, with the same definition.",
            headers={"Retry-After": str(self._retry_after_s)},
            kind=kind.name,
        )

    async def view(self, kind: JobKind) -> dict[str, Any]:
        return {**describe(kind), "available": await self.available(kind)}
