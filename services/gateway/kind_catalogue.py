"""The gateway's view of the catalogue: definitions, and whether a worker runs them.

A kind is *available* once a worker advertised the same definition
(``services/contract/adverts.py``). Submitting a kind that is not is refused
with ``503 kind-unavailable`` rather than accepted into a wait that no worker
would ever end. Adverts are never withdrawn, so an available kind is
remembered for the life of the process; an unavailable one is asked about
again after ``recheck_s``, which keeps a missing kind from costing a
Resonate read per submit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from longhaul.kinds import JobKind
from services.contract.adverts import advert_id
from services.contract.catalogue import Catalogue, describe
from services.gateway.errors import Problem
from services.gateway.job_store import JobStore


class GatewayKinds:
    def __init__(
        self,
        catalogue: Catalogue,
        store: JobStore,
        *,
        require_workers: bool,
        retry_after_s: int,
        recheck_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalogue = catalogue
        self._store = store
        self._require_workers = require_workers
        self._retry_after_s = retry_after_s
        self._recheck_s = recheck_s
        self._clock = clock
        self._available: set[str] = set()
        self._missing_since: dict[str, float] = {}

    def get(self, name: str) -> JobKind | None:
        return self.catalogue.get(name)

    async def available(self, kind: JobKind) -> bool:
        if kind.name in self._available:
            return True
        checked = self._missing_since.get(kind.name)
        if checked is not None and self._clock() - checked < self._recheck_s:
            return False
        if await self._store.exists(advert_id(self.catalogue.entry(kind.name))):
            self._available.add(kind.name)
            self._missing_since.pop(kind.name, None)
            return True
        self._missing_since[kind.name] = self._clock()
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
            f"No worker has registered kind {kind.name!r} (module {entry.module!r}, "
            f"version {kind.version}, definition {entry.fingerprint}). Start workers whose "
            "LONGHAUL_JOB_MODULES include that module, with the same definition.",
            headers={"Retry-After": str(self._retry_after_s)},
            kind=kind.name,
        )

    async def view(self, kind: JobKind) -> dict[str, Any]:
        return {**describe(kind), "available": await self.available(kind)}
