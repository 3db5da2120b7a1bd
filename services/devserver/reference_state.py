"""The SDK's reference state machine, behind the dev server's wire front.

This is the only dev server module that touches SDK internals
(``resonate.connections.local``), pinned to the exact SDK version: a different
SDK fails the dev server's boot (and a unit test) rather than misbehaving.

The reference machine is written for unit tests with a handful of promises: it
scans every promise on each task acquire (``preload``) and each task fulfil
(``enqueue_settle``), and its timeout lists on every lease change. A dev server
keeps every promise for its lifetime, so those scans made each job slower than
the one before. ``IndexedServerState`` answers the same questions from indexes
and leaves every other rule to the reference code.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import msgspec
from resonate.connections import local
from resonate.error import ServerError

from services.common import retention
from services.devserver import search

SDK_VERSION = "0.8.1"
if version("resonate-sdk") != SDK_VERSION:  # pragma: no cover - guarded by the lock file
    raise RuntimeError(f"the dev server is written for resonate-sdk {SDK_VERSION}")

PROTOCOL_VERSION = local.PROTOCOL_VERSION
#: The reference machine's fixed retry interval (the real server's default).
PENDING_RETRY_MS = local.PENDING_RETRY_TTL
#: Request kinds that change nothing unless they time out an expired promise.
READ_ONLY_KINDS = frozenset({"promise.get", "schedule.get", "schedule.search", search.KIND})


class _IndexedPromises(dict[str, local.DurablePromise]):
    """``ServerState.promises`` plus ids by ``resonate:branch`` and by ``resonate:origin``.

    The state machine only ever adds promises by item assignment (never changes
    tags), so indexing in ``__setitem__`` keeps it exact; the retention sweep
    removes promises through ``remove``, which keeps the indexes too.
    ``search`` holds the ids in order for ``promise.search`` (``search.py``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.by_branch: dict[str, dict[str, None]] = {}
        self.search = search.SearchIndex()
        #: origin -> its group's ids (the retention sweep's unit)
        self.by_origin: dict[str, dict[str, None]] = {}
        #: ids of adverts (retention's own rule for them)
        self.adverts: dict[str, None] = {}

    def __setitem__(self, promise_id: str, promise: local.DurablePromise) -> None:
        previous = self.get(promise_id)
        self.search.add(promise_id, promise.tags, previous.tags if previous is not None else None)
        if previous is not None:
            old = previous.tags.get("resonate:branch")
            if old is not None and old != promise.tags.get("resonate:branch"):
                self.by_branch.get(old, {}).pop(promise_id, None)
        super().__setitem__(promise_id, promise)
        branch = promise.tags.get("resonate:branch")
        if branch is not None:
            self.by_branch.setdefault(branch, {})[promise_id] = None
        origin = promise.tags.get(retention.TAG_ORIGIN)
        if origin is not None:
            self.by_origin.setdefault(origin, {})[promise_id] = None
        elif retention.is_advert(promise_id, promise.tags):
            self.adverts[promise_id] = None

    def remove(self, promise_id: str) -> local.DurablePromise | None:
        promise = self.pop(promise_id, None)
        if promise is None:
            return None
        for index, key in (
            (self.by_branch, promise.tags.get("resonate:branch")),
            (self.by_origin, promise.tags.get(retention.TAG_ORIGIN)),
        ):
            ids = index.get(key) if key is not None else None
            if ids is not None:
                ids.pop(promise_id, None)
                if not ids:
                    del index[key]
        self.adverts.pop(promise_id, None)
        self.search.remove(promise_id, promise.tags)
        return promise


class _TimeoutTable:
    """A timeout list keyed by id: same iteration order, O(1) set and delete."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, Any] = {}

    def __iter__(self) -> Any:
        return iter(tuple(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry_id: str) -> Any:
        return self._entries.get(entry_id)

    def add(self, entry: Any) -> None:
        self._entries[entry.id] = entry

    def remove(self, entry_id: str) -> None:
        self._entries.pop(entry_id, None)


class IndexedServerState(local.ServerState):
    """The reference state machine with its per-request scans replaced by indexes.

    - ``preload``: the promises of one branch come from a branch index;
    - ``enqueue_settle``: a fulfilled task leaves the awaiter sets it was put in
      (recorded when ``task.suspend`` put it there) instead of every promise's;
    - promise and task timeouts: id-keyed tables instead of lists.
    """

    def __init__(self) -> None:
        super().__init__()
        self.promises = _IndexedPromises()
        self.p_timeouts = _TimeoutTable()  # type: ignore[assignment]
        self.t_timeouts = _TimeoutTable()  # type: ignore[assignment]
        #: task id -> ids of the promises whose ``awaiters`` it was added to
        self.awaiting: dict[str, set[str]] = {}

    def preload(self, promise_id: str) -> list[dict[str, Any]]:
        p = self.promises.get(promise_id)
        if p is None:
            return []
        branch = p.tags.get("resonate:branch")
        if branch is None:
            return []
        return [
            self.promises[other].to_record()
            for other in self.promises.by_branch.get(branch, ())
            if other != promise_id
        ]

    def task_suspend(self, now: int, corr_id: Any, req: Any) -> dict[str, Any]:
        response = super().task_suspend(now, corr_id, req)
        task_id = local._str(req, "id")
        actions = local._get(req, "actions")
        for action in actions if isinstance(actions, list) else ():
            awaited = local._get(local.extract_action_data(action), "awaited")
            p = self.promises.get(awaited) if isinstance(awaited, str) else None
            if p is not None and task_id in p.awaiters:
                self.awaiting.setdefault(task_id, set()).add(awaited)
        return response

    def enqueue_settle(self, promise_id: str) -> None:
        t = self.tasks.get(promise_id)
        if t is None or t.state == "fulfilled":
            super().enqueue_settle(promise_id)  # no scan on these paths
            return
        # The reference fulfil, with the scan of every promise replaced by the index.
        t.state = "fulfilled"
        t.pid = None
        t.ttl = None
        t.resumes.clear()
        self.del_t_timeout(promise_id)
        for awaited in self.awaiting.pop(promise_id, ()):
            p = self.promises.get(awaited)
            if p is not None:
                p.awaiters.discard(promise_id)

    def set_p_timeout(self, promise_id: str, timeout: int) -> None:
        entry = self.p_timeouts.get(promise_id)
        if entry is not None:
            entry.timeout = timeout
        else:
            self.p_timeouts.add(local.PTimeout(id=promise_id, timeout=timeout))

    def del_p_timeout(self, promise_id: str) -> None:
        self.p_timeouts.remove(promise_id)

    def set_t_timeout(self, task_id: str, typ: int, timeout: int) -> None:
        entry = self.t_timeouts.get(task_id)
        if entry is not None:
            entry.typ = typ
            entry.timeout = timeout
        else:
            self.t_timeouts.add(local.TTimeout(id=task_id, typ=typ, timeout=timeout))

    def del_t_timeout(self, task_id: str) -> None:
        self.t_timeouts.remove(task_id)

    def expired(self, policy: retention.RetentionPolicy, now: int) -> tuple[list[str], int, int]:
        """What the retention rule deletes at ``now``: (ids, job groups, adverts)."""
        ids: list[str] = []
        groups = 0
        for origin, members in self.promises.by_origin.items():
            root = self.promises.get(origin)
            if root is None or not retention.is_job_root(origin, root.tags):
                continue
            if not policy.root_expired(origin, root.state, root.settled_at, now):
                continue
            if any(self.promises[m].state == "pending" for m in members):
                continue  # a running step, a pending notification: the group stays whole
            ids.extend(members)
            groups += 1
        adverts = [
            a
            for a in self.promises.adverts
            if policy.advert_expired(self.promises[a].state, self.promises[a].settled_at, now)
        ]
        return ids + adverts, groups, len(adverts)

    def delete(self, ids: list[str]) -> tuple[int, int]:
        """Remove promises with everything that hangs off them (what Postgres cascades).

        A promise's callbacks (``awaiters``) and listeners (``subscribers``) go
        with it; its task (same id), the task's timeouts, and the task's place
        in other promises' awaiter sets go too. Returns (promises, tasks) removed.
        """
        promises = tasks = 0
        for promise_id in ids:
            if self.promises.remove(promise_id) is None:
                continue
            promises += 1
            self.p_timeouts.remove(promise_id)
            if self.tasks.pop(promise_id, None) is not None:
                tasks += 1
            self.t_timeouts.remove(promise_id)
            for awaited in self.awaiting.pop(promise_id, ()):
                p = self.promises.get(awaited)
                if p is not None:
                    p.awaiters.discard(promise_id)
        return promises, tasks


class FaithfulServerState(IndexedServerState):
    """The indexed machine with the real server's rules where the reference is kinder.

    - the retry interval of an undelivered ``execute`` is a setting (the real
      server's ``tasks.retry_timeout``), not the reference's fixed 30 s;
    - ``task.acquire`` must name the version it was offered: the reference
      ignores the version and lets a stale offer take the task, the real server
      answers 409 "Version mismatch" (src/server.rs, ``op_task_acquire``).
    """

    def __init__(self, retry_timeout_ms: int = PENDING_RETRY_MS) -> None:
        super().__init__()
        self.retry_timeout_ms = retry_timeout_ms

    @contextmanager
    def _retry_interval(self) -> Iterator[None]:
        # The reference code reads the module constant at each use; swapping it
        # around one synchronous apply/tick changes exactly the retry deadlines
        # and nothing else. Nothing can interleave: both run without awaiting.
        saved = local.PENDING_RETRY_TTL
        local.PENDING_RETRY_TTL = self.retry_timeout_ms
        try:
            yield
        finally:
            local.PENDING_RETRY_TTL = saved

    def apply(self, now: int, req: Any) -> dict[str, Any]:
        if local._get(req, "kind") == search.KIND:  # the reference machine has no search
            return search.promise_search(
                self.promises, self.promises.search, local._get(req, "corrId"), req
            )
        with self._retry_interval():
            return super().apply(now, req)

    def tick(self, now: int) -> None:
        with self._retry_interval():
            super().tick(now)

    def task_acquire(self, now: int, corr_id: Any, req: Any) -> dict[str, Any]:
        task = self.tasks.get(local._str(req, "id"))
        version = local._opt_i64(local._get(req, "version"))
        if version is None:
            raise ServerError(400, "Invalid request: missing field `version`")
        if task is not None and task.state == "pending" and task.version != version:
            return {
                "kind": "task.acquire",
                "corrId": corr_id,
                "status": 409,
                "error": "Version mismatch",
            }
        return super().task_acquire(now, corr_id, req)

    def has_due(self, now: int) -> bool:
        """A tick at ``now`` would change something (so it must be journaled)."""
        return any(now >= pt.timeout for pt in self.p_timeouts) or any(
            now >= tt.timeout for tt in self.t_timeouts
        )


class _Snapshot(msgspec.Struct):
    """Every table of ``FaithfulServerState``, in iteration order."""

    promises: list[local.DurablePromise]
    tasks: list[local.Task]
    schedules: list[local.ScheduleStub]
    p_timeouts: list[local.PTimeout]
    t_timeouts: list[local.TTimeout]
    awaiting: dict[str, list[str]]


_SNAPSHOT_ENCODER = msgspec.msgpack.Encoder()
_SNAPSHOT_DECODER = msgspec.msgpack.Decoder(_Snapshot)


@dataclass(frozen=True)
class Outgoing:
    address: str
    payload: str  # the JSON of an ``execute`` or ``unblock`` message
    task_id: str | None  # set for ``execute`` messages
    version: int | None = None  # the task version an ``execute`` offers


class ReferenceState:
    """Apply wire envelopes and clock ticks; hand back what must be pushed where."""

    def __init__(self, retry_timeout_ms: int = PENDING_RETRY_MS) -> None:
        self._state = FaithfulServerState(retry_timeout_ms)

    def mutates(self, envelope: Any, now_ms: int) -> bool:
        """Whether applying ``envelope`` at ``now_ms`` can change the state.

        Reads are not journaled, except a ``promise.get`` that finds its promise
        past its timeout: applying it times the promise out.
        """
        kind = envelope.get("kind") if isinstance(envelope, dict) else None
        if kind not in READ_ONLY_KINDS:
            return True
        if kind != "promise.get":
            return False
        flat = local.unwrap_request_envelope(envelope)
        p = self._state.promises.get(local._str(flat, "id"))
        return p is not None and p.state == "pending" and now_ms >= p.timeout_at

    def has_due(self, now_ms: int) -> bool:
        return self._state.has_due(now_ms)

    def apply(self, envelope: Any, now_ms: int) -> tuple[dict[str, Any], list[Outgoing]]:
        """One request envelope in, one response envelope and the messages it caused out."""
        flat = local.unwrap_request_envelope(envelope)
        try:
            response = self._state.apply(now_ms, flat)
        except ServerError as exc:
            response = {
                "kind": flat.get("kind") if isinstance(flat, dict) else None,
                "corrId": flat.get("corrId") if isinstance(flat, dict) else None,
                "status": exc.code,
                "error": exc.message,
            }
        return local.wrap_response_envelope(response), self._drain()

    def tick(self, now_ms: int) -> list[Outgoing]:
        """Expire promises and leases, retry undelivered tasks."""
        self._state.outgoing.clear()
        self._state.tick(now_ms)
        return self._drain()

    def promise(self, promise_id: str) -> dict[str, Any] | None:
        p = self._state.promises.get(promise_id)
        return p.to_record() if p is not None else None

    def dump(self) -> bytes:
        """The whole state machine as bytes (a snapshot); ``load`` is its inverse.

        MessagePack of the SDK's own msgspec structs, in table order (about ten
        times faster than pickle: the snapshot is taken on the event loop).
        Values msgpack cannot carry (integers past 64 bits in a param) fall
        back to pickle. Either way the SDK version is pinned: the store records
        ``SDK_VERSION`` next to the snapshot and refuses any other.
        """
        st = self._state
        st.outgoing = []
        snap = _Snapshot(
            promises=list(st.promises.values()),
            tasks=list(st.tasks.values()),
            schedules=list(st.schedules.values()),
            p_timeouts=list(st.p_timeouts),
            t_timeouts=list(st.t_timeouts),
            awaiting={task: sorted(ids) for task, ids in st.awaiting.items()},
        )
        try:
            return b"M" + _SNAPSHOT_ENCODER.encode(snap)
        except (OverflowError, TypeError):
            return b"P" + pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def load(cls, blob: bytes, retry_timeout_ms: int) -> ReferenceState:
        tag, body = blob[:1], blob[1:]
        if tag == b"M":
            snap = _SNAPSHOT_DECODER.decode(body)
        elif tag == b"P":
            snap = pickle.loads(body)  # noqa: S301 - our own file, written by dump()
        else:
            raise ValueError("not a dev server snapshot")
        out = cls(retry_timeout_ms)
        st = out._state
        for promise in snap.promises:
            st.promises[promise.id] = promise
        st.tasks = {task.id: task for task in snap.tasks}
        st.schedules = {stub.id: stub for stub in snap.schedules}
        for pt in snap.p_timeouts:
            st.p_timeouts.add(pt)
        for tt in snap.t_timeouts:
            st.t_timeouts.add(tt)
        st.awaiting = {task: set(ids) for task, ids in snap.awaiting.items()}
        return out

    def expired(self, policy: retention.RetentionPolicy, now_ms: int) -> tuple[list[str], int, int]:
        return self._state.expired(policy, now_ms)

    def delete(self, ids: list[str]) -> tuple[int, int]:
        return self._state.delete(ids)

    def counts(self) -> dict[str, int]:
        return {"promises": len(self._state.promises), "tasks": len(self._state.tasks)}

    def _drain(self) -> list[Outgoing]:
        out = [
            Outgoing(
                address=msg.address,
                payload=msgspec.json.encode(msg.message).decode(),
                task_id=local._execute_task_id(msg.message),
                version=_execute_version(msg.message),
            )
            for msg in self._state.outgoing
        ]
        self._state.outgoing = []
        return out


def error_envelope(kind: Any, corr_id: Any, status: int, message: str) -> dict[str, Any]:
    return local.wrap_response_envelope(
        {"kind": kind, "corrId": corr_id, "status": status, "error": message}
    )


def _execute_version(message: Any) -> int | None:
    task = message.get("data", {}).get("task") if isinstance(message, dict) else None
    version = task.get("version") if isinstance(task, dict) else None
    return version if isinstance(version, int) else None
