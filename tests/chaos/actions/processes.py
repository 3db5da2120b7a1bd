"""Process faults on a LocalStack: SIGKILL a worker, one gunicorn worker, the gateway, or the
dev Resonate server.

A killed worker is replaced after a short delay by a new one with a new
identity, as a ReplicaSet replaces a pod; a killed gateway is restarted on
the same port. A killed gunicorn worker is replaced by gunicorn itself. A
killed dev server is restarted on the same port and the same SQLite file, as
a StatefulSet brings the real server back on its Postgres; it has recovered
once every live worker's listener is connected again (its /readyz is 200).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable

from services.stack.local import LocalStack
from services.stack.processes import ManagedProcess, http_ok
from tests.chaos.actions.base import (
    GATEWAY_KILL,
    GUNICORN_WORKER_KILL,
    RESONATE_KILL,
    WORKER_KILL,
)
from tests.chaos.model import FaultRecord
from tests.chaos.probes.procs import children
from tests.chaos.probes.workers import in_progress


def metrics_base(process: ManagedProcess) -> str:
    return (process.spec.ready_url or "").rsplit("/", 1)[0]


class ProcessFaults:
    kinds = frozenset({WORKER_KILL, GUNICORN_WORKER_KILL, GATEWAY_KILL, RESONATE_KILL})

    def __init__(
        self,
        stack: LocalStack,
        *,
        spawn_worker: Callable[[], ManagedProcess],
        web_concurrency: int,
        restart_delay_s: float,
        rng: random.Random,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self._stack = stack
        self._spawn_worker = spawn_worker
        self._web_concurrency = web_concurrency
        self._restart_delay_s = restart_delay_s
        self._rng = rng
        self._ready_timeout_s = ready_timeout_s

    def inject(self, kind: str) -> FaultRecord:
        record = FaultRecord(kind, "", time.time())
        actions = {
            WORKER_KILL: self._kill_worker,
            GUNICORN_WORKER_KILL: self._kill_gunicorn_worker,
            GATEWAY_KILL: self._kill_gateway,
            RESONATE_KILL: self._kill_resonate,
        }
        try:
            actions[kind](record)
            record.recovered_at = time.time()
        except Exception as exc:  # the record carries it; the checker fails the run
            record.error = f"{type(exc).__name__}: {exc}"
        return record

    def _kill_worker(self, record: FaultRecord) -> None:
        alive = [w for w in self._stack.workers if w.alive()]
        if not alive:
            raise RuntimeError("no live worker to kill")
        # Aim at the busiest worker so the kill interrupts jobs mid-flight.
        busy = {w.name: in_progress(metrics_base(w)) or 0.0 for w in alive}
        victim = max(alive, key=lambda w: (busy[w.name], self._rng.random()))
        record.target, record.at = victim.name, time.time()
        victim.kill()
        time.sleep(self._restart_delay_s)
        self._spawn_worker().wait_ready(self._ready_timeout_s)

    def _kill_gunicorn_worker(self, record: FaultRecord) -> None:
        gateway = self._stack.gateway
        if gateway is None or gateway.pid is None or not gateway.alive():
            raise RuntimeError("the gateway is not running")
        master = gateway.pid
        workers = children(master)
        if not workers:
            raise RuntimeError(f"gunicorn master {master} has no worker processes")
        victim = self._rng.choice(workers)
        record.target, record.at = f"{gateway.name} worker pid {victim}", time.time()
        os.kill(victim, signal.SIGKILL)
        give_up_at = time.time() + self._ready_timeout_s
        while time.time() < give_up_at:
            now = children(master)
            if victim not in now and len(now) >= self._web_concurrency:
                if gateway.spec.ready_url is None or http_ok(gateway.spec.ready_url):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"gunicorn did not replace worker {victim} in {self._ready_timeout_s}s")

    def _kill_gateway(self, record: FaultRecord) -> None:
        gateway = self._stack.gateway
        if gateway is None:
            raise RuntimeError("no gateway in the stack")
        record.target, record.at = gateway.name, time.time()
        gateway.kill()
        time.sleep(self._restart_delay_s)
        gateway.restart(self._ready_timeout_s)

    def _kill_resonate(self, record: FaultRecord) -> None:
        server = self._stack.devserver
        if server is None:
            raise RuntimeError("no dev server in this stack (a given RESONATE_URL is not killed)")
        record.target, record.at = server.name, time.time()
        server.kill()
        time.sleep(self._restart_delay_s)
        server.restart(self._ready_timeout_s)
        give_up_at = time.time() + self._ready_timeout_s
        while time.time() < give_up_at:
            live = [w for w in self._stack.workers if w.alive()]
            if live and all(w.spec.ready_url and http_ok(w.spec.ready_url) for w in live):
                return
            time.sleep(0.05)
        raise TimeoutError(f"workers not listening again {self._ready_timeout_s}s after restart")
