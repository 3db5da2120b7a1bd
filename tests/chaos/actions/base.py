"""The fault injector interface shared by the process and the Kubernetes targets."""

from __future__ import annotations

from typing import Protocol

from tests.chaos.model import FaultRecord

WORKER_KILL = "worker_kill"
GUNICORN_WORKER_KILL = "gunicorn_worker_kill"
GATEWAY_KILL = "gateway_kill"
RESONATE_KILL = "resonate_kill"


class FaultInjector(Protocol):
    #: The fault kinds this target can inject.
    kinds: frozenset[str]

    def inject(self, kind: str) -> FaultRecord:
        """Inject one fault of ``kind`` and block until the target has recovered.

        Never raises for a fault that could not be injected or recovered: the
        record carries the error, and the checker fails the run on it.
        """
        ...
