"""Restart what dies, as a kubelet would: ``make run``'s restart policy.

Only ``make run`` uses this. Tests, chaos and bench drive ``LocalStack``
directly: they kill and restart processes on purpose and must not have a
supervisor racing them.

Everything here runs in the thread that started the stack (``make run``'s main
thread). That matters: ``PR_SET_PDEATHSIG`` fires when the *thread* that forked
a child ends, so a child restarted from a short-lived thread would be killed
when that thread finished.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from services.stack.processes import LineSink, ManagedProcess, http_ok

#: The name the supervisor's own lines carry in the interleaved output.
SOURCE = "stack"


@dataclass(frozen=True)
class RestartBackoff:
    """Delay before restarting a child that exited, by how often it exited in a row.

    A kubelet waits 10 s, doubles up to 5 min, and forgets a child's crashes
    once it has run for 10 min. Those numbers suit a cluster that nobody
    watches; a local run lasts minutes with a developer looking at it, so
    everything is shorter: 0.5 s, 1, 2, 4, 8, 16, then every 30 s, and a child
    that stayed up for 60 s starts again from 0.5 s next time it dies.
    """

    first_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, exits_in_a_row: int) -> float:
        """``exits_in_a_row`` counts this exit: 1 for a first crash."""
        return min(self.first_s * self.factor ** max(exits_in_a_row - 1, 0), self.max_s)


def describe_exit(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass
class _Child:
    process: ManagedProcess
    started_at: float
    ready: bool = False
    exits_in_a_row: int = 0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Watch started processes; restart each one that exits, on its own spec and port."""

    sink: LineSink
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    poll_s: float = 0.2
    ready_probe_s: float = 0.5
    clock: Callable[[], float] = time.monotonic
    _children: list[_Child] = field(default_factory=list, init=False)

    def watch(self, process: ManagedProcess) -> None:
        """Take over a process that has been started."""
        self._children.append(_Child(process, started_at=self.clock()))

    def watch_all(self, processes: Iterable[ManagedProcess]) -> None:
        for process in processes:
            self.watch(process)

    def all_ready(self) -> bool:
        return all(c.ready for c in self._children)

    def run(self, stop: threading.Event, until: Callable[[], bool] | None = None) -> None:
        """Supervise until ``stop`` is set or ``until()`` holds.

        Returning never stops a child: the caller stops the stack, so a child
        waiting in back-off simply is not started again.
        """
        while not stop.is_set():
            self.tick()
            if until is not None and until():
                return
            stop.wait(self.poll_s)

    def tick(self) -> None:
        """One pass: notice exits, start what is due, probe what is not ready yet."""
        now = self.clock()
        for child in self._children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._restart(child, now)
            elif not child.process.alive():
                self._exited(child, now)
            elif not child.ready:
                self._probe(child)

    def _exited(self, child: _Child, now: float) -> None:
        process = child.process
        # What a dead process leaves in its session (gunicorn's web workers
        # when the master is SIGKILLed) would keep the port and the output
        # pipe: remove it, as a container's processes all go with its PID 1.
        process.kill_leftovers()
        up_s = now - child.started_at
        if up_s >= self.backoff.reset_after_s:
            child.exits_in_a_row = 0
        child.exits_in_a_row += 1
        delay = self.backoff.delay(child.exits_in_a_row)
        child.restart_at = now + delay
        how = describe_exit(process.returncode())
        if child.ready:
            what = f"{process.name} {how} after {up_s:.1f} s up"
        else:
            what = f"{process.name} {how} before it was ready"
        if child.exits_in_a_row > 1:
            what += f" ({child.exits_in_a_row} exits in a row: CrashLoopBackOff)"
        self.sink(SOURCE, f"{what}; restarting in {delay:g} s")

    def _restart(self, child: _Child, now: float) -> None:
        process = child.process
        child.restart_at = None
        child.ready = False
        child.started_at = now
        self.sink(SOURCE, f"{process.name}: restart {process.starts}")
        try:
            process.start()
        except OSError as exc:
            # Not even spawned (a missing interpreter, no file descriptors):
            # counted as one more exit, retried with the same back-off.
            self.sink(SOURCE, f"{process.name} could not be started: {exc}")
            child.exits_in_a_row += 1
            delay = self.backoff.delay(child.exits_in_a_row)
            child.restart_at = now + delay
            self.sink(SOURCE, f"{process.name}: restarting in {delay:g} s")

    def _probe(self, child: _Child) -> None:
        url = child.process.spec.ready_url
        if url is None or http_ok(url, timeout=self.ready_probe_s):
            child.ready = True
            if child.process.starts > 1:
                self.sink(SOURCE, f"{child.process.name} is ready again")
