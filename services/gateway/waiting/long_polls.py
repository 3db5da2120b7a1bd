"""Long-polls (``GET /v1/jobs/{id}?wait=S``): a waiting request costs the Resonate server ~nothing.

With push on, each gateway process holds one SSE stream to the Resonate server
at its own unicast address (``push_stream.py``) and registers at most one
listener per job its requests wait on (``promise.register_listener``), shared
by all of them. A long-poll then costs at most three requests whatever its
length: its first read, the shared listener (none if another request already
registered it) and, unless a push told it the job settled, one final read.

Push is best effort on the real server (an ``unblock`` it could not hand to an
open stream is never sent again), so nothing here depends on it alone:

- a wait that saw no push ends with one final read;
- after every reconnect of the stream, each watched job's listener is
  registered again, and the answer (the job's state now) covers an ``unblock``
  lost while the stream was down;
- while the stream is down (or a registration failed), waits re-read the job
  on today's backoff (2 ms doubling, capped at 0.5 s).

Nothing about a job outlives the requests waiting on it: its watch is removed
when its last waiter leaves (the server's listener is one-shot and harmless).
A waiter is a coroutine, its share of the watch and a task that notices the
client hanging up (``until_disconnected``): no polling of the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
from resonate.send import parse_promise

from services.common.stream_status import ListenerStatus
from services.gateway.edge.errors import Problem
from services.gateway.jobs.job_store import Job, JobStore
from services.gateway.metrics import GatewayMetrics

log = structlog.get_logger("longhaul.gateway.waiting")

# Backoff re-reads (push off, or the stream down): start fast so short jobs
# return promptly, back off to keep a waiting client's load on the Resonate
# server at a few reads a second. The first re-read comes 2 ms after a read
# that found the job pending, so a job done within milliseconds of its
# submission (an echo job) is seen about when it settles. Doubling reaches the
# 0.5 s cap after nine re-reads: ~18 reads in a 5 s wait.
POLL_FIRST_S = 0.002
POLL_MAX_S = 0.5
POLL_FACTOR = 2.0


async def until_disconnected(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    """Return when the client hangs up (ASGI ``http.disconnect``).

    The read route's body is empty, so every message after it is the
    disconnect: the server wakes this task once, when it happens.
    """
    while (await receive())["type"] != "http.disconnect":
        pass


async def read_backoff(
    store: JobStore, job_id: str, wait_s: float, is_disconnected: Callable[[], Awaitable[bool]]
) -> Job:
    """The wait without push (``LONGHAUL_WAIT_PUSH=false``): re-read on a capped backoff."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    delay = POLL_FIRST_S
    job = await store.get(job_id)
    while not job.terminal:
        remaining = deadline - loop.time()
        if remaining <= 0 or await is_disconnected():
            break
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * POLL_FACTOR, POLL_MAX_S)
        job = await store.get(job_id)
    return job


@dataclass(eq=False)
class _Watch:
    """One job some requests of this process wait on."""

    job_id: str
    changed: asyncio.Future[None]
    waiters: int = 0
    #: The job once it is known to be settled (pushed, in a listener's answer, or read).
    job: Job | None = None
    #: Stream connection number its listener was registered on (-1: none yet).
    listening_on: int = -1
    #: Stream connection number on which registering failed: poll until the next one.
    failed_on: int = -1
    registering: asyncio.Task[None] | None = None


@dataclass
class JobWaits:
    """The jobs this process's requests wait on, woken by ``unblock`` messages."""

    store: JobStore
    metrics: GatewayMetrics
    #: The push stream's state; None: push is off.
    stream: ListenerStatus | None = None
    #: Where the server sends this process's ``unblock`` messages.
    address: str = ""
    _watches: dict[str, _Watch] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stream is not None:
            self.stream.on_connect.append(self._stream_changed)
            self.stream.on_disconnect.append(lambda _cause: self._stream_changed())

    @property
    def push(self) -> bool:
        return self.stream is not None

    def watched(self) -> int:
        return len(self._watches)

    def waiters(self) -> int:
        return sum(w.waiters for w in self._watches.values())

    def snapshot(self) -> dict[str, object]:
        if self.stream is None:
            return {"push": False}
        return {
            "push": True,
            "address": self.address,
            "stream": self.stream.snapshot(),
            "watched_jobs": self.watched(),
            "waiting_requests": self.waiters(),
        }

    # ── a request waits ───────────────────────────────────────────────────

    async def wait(self, job_id: str, wait_s: float, gone: asyncio.Future[None]) -> Job:
        """The job once it settled, or as it is after ``wait_s`` (or when ``gone`` is done)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        job = await self.store.get(job_id)
        if job.terminal or wait_s <= 0:
            return job
        watch = self._join(job_id)
        try:
            delay = POLL_FIRST_S
            while watch.job is None:
                remaining = deadline - loop.time()
                if remaining <= 0 or gone.done():
                    break
                if self._pushed(watch):
                    if watch.listening_on != self._connection() and watch.registering is None:
                        watch.registering = asyncio.create_task(self._listen(watch))
                    await _first((watch.changed, gone), remaining)
                    continue
                await _first((watch.changed, gone), min(delay, remaining))
                if watch.job is not None or self._pushed(watch):
                    continue
                if gone.done() or loop.time() >= deadline:
                    break
                delay = min(delay * POLL_FACTOR, POLL_MAX_S)
                job = await self.store.get(job_id)
                if job.terminal:
                    self._settle(watch, job, "read")
            if watch.job is not None:
                # A pushed settle carries the job, not its webhook's state.
                return await self.store.with_notification(watch.job)
            if gone.done():
                return job  # nobody reads this answer
            # No push came: it may have been dropped. One last look.
            job = await self.store.get(job_id)
            self.metrics.wait_ends.labels("final_read").inc()
            return job
        finally:
            self._leave(watch)

    # ── the push stream reports ───────────────────────────────────────────

    def on_message(self, data: str) -> None:
        """An SSE message on this process's stream: an ``unblock`` settles its watch."""
        try:
            message = msgspec.json.decode(data)
            if not isinstance(message, dict) or message.get("kind") != "unblock":
                return
            record = parse_promise(message["data"])
        except Exception:  # a message we cannot read is dropped, not the stream
            log.warning("push message not understood", data=data[:200])
            return
        watch = self._watches.get(record.id)
        if watch is None or watch.job is not None or record.state == "pending":
            return  # nobody waits on it any more: the one-shot listener is spent
        try:
            job = self.store.job_of(record)
        except Problem:
            return
        self._settle(watch, job, "push")

    def _stream_changed(self) -> None:
        # Down: waiters switch to re-reading. Up: they register again, and the
        # answers cover any unblock lost while the stream was down.
        for watch in self._watches.values():
            _wake(watch)

    # ── internals ─────────────────────────────────────────────────────────

    def _connection(self) -> int:
        return self.stream.connections if self.stream is not None else 0

    def _pushed(self, watch: _Watch) -> bool:
        """Whether this watch can wait on push now (else it re-reads)."""
        return (
            self.stream is not None
            and self.stream.is_connected
            and watch.failed_on != self.stream.connections
        )

    async def _listen(self, watch: _Watch) -> None:
        connection = self._connection()
        try:
            job = await self.store.listen(watch.job_id, self.address)
        except Exception as exc:  # a 503 or worse: re-read until the stream reconnects
            log.warning(
                "listener not registered; re-reading",
                job_id=watch.job_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            watch.failed_on = connection
        else:
            watch.listening_on = connection
            if job.terminal:
                self._settle(watch, job, "listener")
        finally:
            watch.registering = None
            _wake(watch)

    def _join(self, job_id: str) -> _Watch:
        watch = self._watches.get(job_id)
        if watch is None:
            watch = _Watch(job_id, asyncio.get_running_loop().create_future())
            self._watches[job_id] = watch
            self.metrics.watched.inc()
        watch.waiters += 1
        self.metrics.waiting.inc()
        return watch

    def _leave(self, watch: _Watch) -> None:
        watch.waiters -= 1
        self.metrics.waiting.dec()
        if watch.waiters:
            return
        if self._watches.get(watch.job_id) is watch:
            del self._watches[watch.job_id]
            self.metrics.watched.dec()
        if watch.registering is not None:
            watch.registering.cancel()
            watch.registering = None

    def _settle(self, watch: _Watch, job: Job, how: str) -> None:
        if watch.job is None:
            watch.job = job
            self.metrics.wait_ends.labels(how).inc(watch.waiters)
            _wake(watch)


def _wake(watch: _Watch) -> None:
    changed = watch.changed
    watch.changed = asyncio.get_running_loop().create_future()
    changed.set_result(None)


async def _first(futures: tuple[asyncio.Future[None], ...], for_s: float) -> None:
    """Until one of ``futures`` is done or ``for_s`` passed (neither is cancelled)."""
    await asyncio.wait(futures, timeout=for_s, return_when=asyncio.FIRST_COMPLETED)
