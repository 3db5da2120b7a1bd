"""Where the dev server's state survives a restart: a journal and snapshots in SQLite.

SQLite because it is the real server's own default store (v0.9.8
``src/config.rs``: ``storage.type`` defaults to ``sqlite``). The layout is the
dev server's own, not the real server's tables: the state is the SDK's
reference machine, so what is stored is what drives it.

- ``journal``: every request that can change the state, as the envelope bytes
  received plus the ``now_ms`` it was applied at, and every clock tick that had
  something due (its ``now_ms``), in the order they were applied;
- ``snapshot``: one row, the machine's tables as MessagePack (pickle only for
  values MessagePack cannot carry) and the last journal ``seq`` it includes.
  Taking one deletes the journal rows it covers, in the same transaction.
- a retention sweep (``sweeper.py``) is journaled as a ``delete`` row (the ids
  it removed) and followed by a snapshot and a compaction: the file is in
  ``auto_vacuum=INCREMENTAL`` mode and ``PRAGMA incremental_vacuum`` then a
  ``wal_checkpoint(TRUNCATE)`` hand the pages the old snapshot and journal used
  back to the file system. Not ``VACUUM``: it rewrites the whole file (twice
  its size on disk, the writer thread blocked meanwhile); the incremental form
  only moves free pages to the end and truncates. Between sweeps SQLite reuses
  free pages itself, so the file is bounded by the largest state plus one
  snapshot.

Durability (what is fsynced when): the database runs in WAL mode with
``synchronous=FULL``, so each COMMIT fsyncs the WAL before it returns. A
request's journal row is committed before its response is written and before
any message it caused is pushed; a request that only reads waits for every
row appended before it, so no answer shows state a crash could take back. A
writer thread commits whatever rows are waiting in one transaction (group
commit): one fsync for a burst of concurrent requests. Snapshots are written
by the same thread, after the rows they cover. Replay at start: load the
snapshot, apply the journal rows after it with their recorded ``now_ms`` and
push nothing.

``MemoryStore`` is the in-memory mode: nothing is written and nothing waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import msgspec
import structlog

from services.devserver.reference_state import SDK_VERSION, ReferenceState

log = structlog.get_logger("longhaul.devserver")

#: Bump when the journal or snapshot format changes; an old file is refused.
FORMAT = "1"

EntryKind = Literal["request", "tick", "delete"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    now_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    taken_at_ms INTEGER NOT NULL,
    state BLOB NOT NULL
);
"""


class StoreError(RuntimeError):
    """The database cannot be used (locked by another server, other format or SDK)."""


@dataclass
class Recovery:
    state: ReferenceState
    snapshot_seq: int
    replayed: int
    seconds: float


class MemoryStore:
    """The in-memory mode: state lives and dies with the process."""

    mode = "memory"
    path: str | None = None
    failed = False

    def recover(self, retry_timeout_ms: int) -> Recovery:
        return Recovery(ReferenceState(retry_timeout_ms), 0, 0, 0.0)

    async def start(self) -> None:
        return None

    def append(self, now_ms: int, kind: EntryKind, body: bytes) -> int:
        return 0

    async def durable(self, seq: int | None = None) -> None:
        return None

    def snapshot_due(self, every: int) -> bool:
        return False

    def snapshot(self, blob: bytes, compact: bool = False) -> None:
        return None

    def file_bytes(self) -> int:
        return 0

    async def close(self, final_snapshot: bytes | None = None) -> None:
        return None


class SqliteStore:
    """Journal + snapshot in one SQLite file, written by one thread with group commit."""

    mode = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = str(Path(path).resolve())
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One server per file: a second one would interleave two journals.
        # flock is released by the kernel when the holder dies, SIGKILL included.
        self._lock_file: IO[bytes] | None = open(self.path + ".lock", "wb")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise StoreError(f"{self.path} is in use by another dev server") from exc
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._incremental_vacuum()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._check_meta()
        # One thread owns every write after start: commits never run on the loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devserver-store")
        self._seq = 0  # last seq appended
        self._durable_seq = 0  # last seq committed
        self._snapshot_seq = 0
        self._pending: deque[tuple[int, int, str, bytes]] = deque()
        self._snapshot_blob: tuple[int, bytes] | None = None
        self._compact = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._closing = False
        #: (seconds, journal rows, snapshot bytes) of every group commit: what a
        #: request that changes the state waits for besides the state machine.
        self.on_commit: Callable[[float, int, int], None] = lambda _s, _r, _b: None

    def _incremental_vacuum(self) -> None:
        # Set before the first table exists; a file from an older build is
        # converted once (VACUUM), which is the one full rewrite it ever gets.
        if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
            return
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        if self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            log.info("converting the state file to incremental auto-vacuum", path=self.path)
            self._db.execute("VACUUM")

    def _check_meta(self) -> None:
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        expected = {"format": FORMAT, "sdk_version": SDK_VERSION}
        if not rows:
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", expected.items())
            return
        if rows != expected:
            raise StoreError(
                f"{self.path} was written by another dev server build ({rows}, this one "
                f"{expected}); remove it or point LONGHAUL_DEVSERVER_DB elsewhere"
            )

    # ── start: snapshot + journal replay ──────────────────────────────────

    def recover(self, retry_timeout_ms: int) -> Recovery:
        """Rebuild the state machine from the file; called once, before serving."""
        started = time.perf_counter()
        row = self._db.execute("SELECT seq, state FROM snapshot WHERE id = 1").fetchone()
        if row is None:
            state, snapshot_seq = ReferenceState(retry_timeout_ms), 0
        else:
            snapshot_seq = row[0]
            state = ReferenceState.load(row[1], retry_timeout_ms)
        replayed = 0
        last = snapshot_seq
        rows = self._db.execute(
            "SELECT seq, now_ms, kind, body FROM journal WHERE seq > ? ORDER BY seq",
            (snapshot_seq,),
        )
        for seq, now_ms, kind, body in rows:
            if kind == "tick":
                state.tick(now_ms)
            elif kind == "delete":
                state.delete(msgspec.json.decode(body))
            else:
                try:
                    state.apply(msgspec.json.decode(body), now_ms)
                except Exception:  # the same fault happened live; keep replaying
                    log.exception("journal entry failed on replay", seq=seq)
            replayed += 1
            last = seq
        self._seq = self._durable_seq = last
        self._snapshot_seq = snapshot_seq
        return Recovery(state, snapshot_seq, replayed, time.perf_counter() - started)

    # ── running ───────────────────────────────────────────────────────────

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write_forever(), name="devserver-store-writer")

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def append(self, now_ms: int, kind: EntryKind, body: bytes) -> int:
        """Queue one journal row; ``await durable(seq)`` before acknowledging it."""
        self._seq += 1
        self._pending.append((self._seq, now_ms, kind, body))
        self._kick()
        return self._seq

    async def durable(self, seq: int | None = None) -> None:
        """Wait until row ``seq`` (default: every row appended so far) is committed."""
        target = self._seq if seq is None else seq
        if self._failure is not None:
            raise StoreError("the journal cannot be written") from self._failure
        if target <= self._durable_seq:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        await future

    def snapshot_due(self, every: int) -> bool:
        return self._seq - self._snapshot_seq >= every and self._snapshot_blob is None

    def snapshot(self, blob: bytes, compact: bool = False) -> None:
        """Queue a snapshot of the state after every row appended so far.

        ``compact``: then give the file's free pages back (after a retention sweep).
        """
        self._snapshot_blob = (self._seq, blob)
        self._snapshot_seq = self._seq
        self._compact = self._compact or compact
        self._kick()

    def file_bytes(self) -> int:
        """The database file plus its WAL, as the file system sees them."""
        return sum(
            Path(self.path + suffix).stat().st_size
            for suffix in ("", "-wal")
            if Path(self.path + suffix).exists()
        )

    async def close(self, final_snapshot: bytes | None = None) -> None:
        if final_snapshot is not None and self._failure is None:
            self.snapshot(final_snapshot)
        if self._writer is not None:
            # The writer drains what is queued (rows, then the snapshot) and ends.
            self._closing = True
            self._kick()
            with contextlib.suppress(Exception):
                await self._writer
            self._writer = None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
        self._executor.shutdown(wait=True)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def close_sync(self) -> None:
        """Close without a loop (a boot that failed after opening)."""
        self._db.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _write_forever(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            rows = list(self._pending)
            self._pending.clear()
            snap, self._snapshot_blob = self._snapshot_blob, None
            compact, self._compact = self._compact and snap is not None, False
            if not rows and snap is None:
                if self._closing:
                    return
                continue
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._executor, self._commit, rows, snap)
            except Exception as exc:  # disk full, I/O error: nothing more is acknowledged
                log.exception("journal write failed; requests now fail with 500")
                self._failure = exc
                for _, future in self._waiters:
                    if not future.done():
                        future.set_exception(StoreError("the journal cannot be written"))
                self._waiters.clear()
                return
            if rows:
                self._durable_seq = rows[-1][0]
            self.on_commit(time.perf_counter() - started, len(rows), len(snap[1]) if snap else 0)
            self._release_waiters()
            if compact:
                # After the commit: what is durable does not wait for the compaction.
                try:
                    await loop.run_in_executor(self._executor, self._compact_file)
                except sqlite3.Error:
                    log.exception("compaction failed; the free pages stay for reuse")
            if self._closing:
                self._wake.set()  # one more pass: anything queued meanwhile, then stop

    def _release_waiters(self) -> None:
        still = []
        for target, future in self._waiters:
            if target <= self._durable_seq:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((target, future))
        self._waiters = still

    def _compact_file(self) -> None:
        self._db.execute("PRAGMA incremental_vacuum").fetchall()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _commit(
        self, rows: list[tuple[int, int, str, bytes]], snap: tuple[int, bytes] | None
    ) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                db.executemany("INSERT INTO journal VALUES (?, ?, ?, ?)", rows)
            if snap is not None:
                seq, blob = snap
                db.execute(
                    "INSERT OR REPLACE INTO snapshot VALUES (1, ?, ?, ?)",
                    (seq, int(time.time() * 1000), blob),
                )
                db.execute("DELETE FROM journal WHERE seq <= ?", (seq,))
            db.execute("COMMIT")  # synchronous=FULL: the WAL is fsynced here
        except BaseException:
            db.execute("ROLLBACK")
            raise


def open_store(db: str) -> MemoryStore | SqliteStore:
    from services.devserver.settings import MEMORY

    return MemoryStore() if db == MEMORY else SqliteStore(db)
