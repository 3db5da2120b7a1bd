"""What a process knows about its SSE stream to the Resonate server.

Kept by the stream (``services/common/resonate_stream.py`` ``SupervisedSSE``),
read by probes and metrics. Plain state and arithmetic, no I/O.

The worker's stream is its only way to hear of new work. resonate-sdk 0.8.1's
own listener ends for good 300 s after it connects (aiohttp's default total
timeout) while the process looks healthy, so the worker answers its probes
from this record:

- ready: the stream is open (a worker that cannot hear of work takes none);
- live: a listener task exists that will reconnect. A listener retrying while
  the Resonate server is down is alive: restarting every worker during a
  server outage helps no one. A listener whose task ended is dead: only a
  restart of the process brings it back, so liveness fails and Kubernetes
  restarts the pod.

The gateway's stream only speeds up long-polls (they fall back to polling
without it), so the gateway reports it (``/readyz`` detail, metrics) and
never fails a probe on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

ListenerState = Literal["starting", "connected", "reconnecting", "stopped", "dead"]

#: Why a stream ended, as a bounded set (a metric label).
DisconnectCause = Literal["closed", "status", "connect", "reset", "timeout", "error"]
CAUSES: tuple[DisconnectCause, ...] = ("closed", "status", "connect", "reset", "timeout", "error")


@dataclass
class ListenerStatus:
    clock: Callable[[], float] = time.monotonic
    state: ListenerState = "starting"
    since: float = field(default=0.0)
    #: Connections that ended and were (or are being) reopened, by cause.
    reconnects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CAUSES, 0))
    last_cause: str | None = None
    last_detail: str | None = None
    connections: int = 0
    task: asyncio.Task[None] | None = None
    on_disconnect: list[Callable[[DisconnectCause], None]] = field(default_factory=list)
    #: Called after each (re)connect, once the stream is open.
    on_connect: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.since = self.clock()

    # ── reported by the listener ─────────────────────────────────────────

    def connected(self) -> None:
        self.state, self.since = "connected", self.clock()
        self.connections += 1
        for observer in self.on_connect:
            observer()

    def disconnected(self, cause: DisconnectCause, detail: str) -> None:
        """A stream ended or a connect failed; the listener will try again."""
        was_connected = self.state == "connected"
        self.last_cause, self.last_detail = cause, detail
        if was_connected or self.state == "starting":
            self.since = self.clock()
        self.state = "reconnecting"
        self.reconnects[cause] += 1
        for observer in self.on_disconnect:
            observer(cause)

    def stopped(self) -> None:
        self.state, self.since = "stopped", self.clock()

    def died(self, detail: str) -> None:
        self.state, self.since = "dead", self.clock()
        self.last_cause, self.last_detail = "error", detail

    # ── read by probes and metrics ───────────────────────────────────────

    @property
    def is_connected(self) -> bool:
        return self.state == "connected"

    @property
    def is_alive(self) -> bool:
        """A listener task exists that will reconnect (or it was stopped on purpose)."""
        if self.state == "stopped":
            return True
        if self.state == "dead":
            return False
        # Belt and braces: a task that ended without saying so is dead too.
        return self.task is None or not self.task.done()

    def for_s(self) -> float:
        return round(self.clock() - self.since, 3)

    def not_ready_reason(self) -> str | None:
        if self.is_connected:
            return None
        last = f"; last: {self.last_cause} ({self.last_detail})" if self.last_cause else ""
        return f"SSE listener {self.state} for {self.for_s():g}s{last}"

    def not_live_reason(self) -> str | None:
        if self.is_alive:
            return None
        return f"SSE listener dead: {self.last_detail or 'its task ended'}"

    def snapshot(self) -> dict[str, object]:
        return {
            "state": self.state if self.is_alive else "dead",
            "for_s": self.for_s(),
            "connections": self.connections,
            "reconnects": dict(self.reconnects),
            "last_cause": self.last_cause,
            "last_detail": self.last_detail,
        }
