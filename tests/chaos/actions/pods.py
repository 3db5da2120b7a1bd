"""Kubernetes faults: delete a release's pod (grace 0) and wait for its workload to heal.

Only pods of one release in one namespace are ever touched: every call is
namespaced and selects ``app.kubernetes.io/instance=<release>`` plus the
component. The Resonate server pod (a StatefulSet) must come back with its
state, which lives in Postgres; the run's checker then shows nothing was lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from tests.chaos.actions.base import GATEWAY_KILL, RESONATE_KILL, WORKER_KILL
from tests.chaos.model import FaultRecord
from tests.chaos.probes.pods import live_pods, restored, selector

COMPONENTS = {WORKER_KILL: "worker", GATEWAY_KILL: "gateway", RESONATE_KILL: "resonate"}


class PodFaults:
    kinds = frozenset(COMPONENTS)

    def __init__(
        self,
        core: Any,
        apps: Any,
        *,
        namespace: str,
        release: str,
        rng: random.Random,
        ready_timeout_s: float = 300.0,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._core, self._apps = core, apps
        self._namespace, self._release = namespace, release
        self._rng = rng
        self._ready_timeout_s, self._poll_s = ready_timeout_s, poll_s
        self._clock, self._sleep = clock, sleep

    def inject(self, kind: str) -> FaultRecord:
        component = COMPONENTS.get(kind)
        if component is None:
            return FaultRecord(kind, "", self._clock(), error=f"{kind} is not a pod fault")
        labels = selector(self._release, component)
        candidates = live_pods(self._core, self._namespace, labels)
        if not candidates:
            return FaultRecord(kind, "", self._clock(), error=f"no running pod matches {labels}")
        victim = self._rng.choice(candidates)
        record = FaultRecord(kind, victim.metadata.name, self._clock())
        try:
            self._core.delete_namespaced_pod(
                victim.metadata.name, self._namespace, grace_period_seconds=0
            )
        except Exception as exc:  # the record carries it; the checker fails the run
            record.error = f"delete failed: {exc}"
            return record
        give_up_at = record.at + self._ready_timeout_s
        while True:
            try:
                ok, why = restored(
                    self._core, self._apps, self._namespace, labels, victim.metadata.uid
                )
            except Exception as exc:  # an API hiccup is not a verdict: ask again
                ok, why = False, f"API error: {exc}"
            if ok:
                record.recovered_at = self._clock()
                return record
            if self._clock() >= give_up_at:
                record.error = f"not restored within {self._ready_timeout_s:g}s: {why}"
                return record
            self._sleep(self._poll_s)
