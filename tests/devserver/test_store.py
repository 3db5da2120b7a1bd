"""The dev server's SQLite journal and snapshots: replay is exact, the file is guarded."""

from __future__ import annotations

import asyncio
import copy
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from services.devserver.reference_state import ReferenceState
from services.devserver.server import DevServer
from services.devserver.settings import DevServerSettings
from services.devserver.store import MemoryStore, SqliteStore, StoreError, open_store
from tests.devserver.test_indexed_state import request, snapshot
from tests.devserver.wire_client import VERSION, call, targeted

pytestmark = pytest.mark.unit


def as_envelope(flat: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in flat.items() if k not in ("kind", "corrId")}
    return {
        "kind": flat["kind"],
        "head": {"corrId": flat["corrId"], "version": VERSION},
        "data": data,
    }


async def drive(store: SqliteStore, seed: int, steps: int, snapshot_at: int | None) -> Any:
    """Run random requests and ticks through the state and the journal, as the server does."""
    rnd = random.Random(seed)
    state = ReferenceState(retry_timeout_ms=30_000)
    now = 1_000_000
    roots = [f"r{i}" for i in range(8)]
    ids = list(roots)
    for step in range(steps):
        now += rnd.choice([0, 1, 5, 100, 1000, 20_000, 31_000])
        if rnd.random() < 0.05:
            if state.has_due(now):
                state.tick(now)
                store.append(now, "tick", b"")
        else:
            env = as_envelope(request(rnd, step, now, ids, roots, state._state))
            mutates = state.mutates(env, now)
            state.apply(copy.deepcopy(env), now)
            if mutates:
                store.append(now, "request", msgspec.json.encode(env))
        if step == snapshot_at:
            store.snapshot(state.dump())
    await store.durable()
    return state


@pytest.mark.parametrize(("seed", "snapshot_at"), [(1, None), (2, None), (3, 150), (4, 299)])
async def test_replay_rebuilds_exactly_the_live_state(
    tmp_path: Path, seed: int, snapshot_at: int | None
) -> None:
    """Journal (after the last snapshot) replayed at start == the state that wrote it.

    Reads that cannot change anything are not journaled; replay must not miss them.
    """
    path = str(tmp_path / "dev.sqlite3")
    store = SqliteStore(path)
    store.recover(30_000)
    await store.start()
    live = await drive(store, seed, 300, snapshot_at)
    await store.close()  # no final snapshot: what a SIGKILL leaves
    again = SqliteStore(path)
    recovery = again.recover(30_000)
    try:
        assert snapshot(recovery.state._state) == snapshot(live._state)
        assert recovery.state.counts() == live.counts()
        if snapshot_at is not None:
            assert recovery.snapshot_seq > 0
            assert recovery.replayed < 300 - snapshot_at
    finally:
        again.close_sync()


async def test_restart_keeps_promises_and_tasks(tmp_path: Path) -> None:
    settings = DevServerSettings(db=str(tmp_path / "dev.sqlite3"), tick_interval_s=0.05)
    first = DevServer(settings)
    async with TestServer(first.app()) as server, aiohttp.ClientSession() as session:
        url = str(server.make_url("/"))
        for i in range(20):
            await call(session, url, "promise.create", **targeted(f"p{i}"))
        for i in range(5):
            await call(session, url, "promise.settle", id=f"p{i}", state="resolved", value={"i": i})
    second = DevServer(settings)
    async with TestServer(second.app()) as server, aiohttp.ClientSession() as session:
        url = str(server.make_url("/"))
        for i in range(20):
            got = await call(session, url, "promise.get", id=f"p{i}")
            assert got["data"]["promise"]["state"] == ("resolved" if i < 5 else "pending")
        assert second.state._state.tasks["p7"].state == "pending"
        async with session.get(server.make_url("/ready")) as ready:
            body = await ready.json()
        assert body["storage_mode"] == "sqlite" and body["storage_path"] == settings.db
        assert body["promises"] == 20
        assert body["recovered"]["replayed"] == 0  # the clean stop left a snapshot


def test_one_server_per_database_file(tmp_path: Path) -> None:
    path = str(tmp_path / "dev.sqlite3")
    first = SqliteStore(path)
    try:
        with pytest.raises(StoreError, match="in use"):
            SqliteStore(path)
    finally:
        first.close_sync()
    SqliteStore(path).close_sync()  # free again once the first is closed


def test_a_file_from_another_build_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "dev.sqlite3")
    SqliteStore(path).close_sync()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '0.0.1' WHERE key = 'sdk_version'")
    with pytest.raises(StoreError, match="another dev server build"):
        SqliteStore(path)


def test_memory_mode_is_the_default_and_writes_nothing(tmp_path: Path) -> None:
    settings = DevServerSettings()
    assert settings.db == ":memory:" and settings.in_memory
    assert isinstance(open_store(settings.db), MemoryStore)
    assert list(tmp_path.iterdir()) == []


def test_settings_use_the_real_servers_names_and_fail_at_boot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESONATE_TASKS__RETRY_TIMEOUT", "5000")
    monkeypatch.setenv("LONGHAUL_DEVSERVER_DB", "/tmp/x.sqlite3")
    monkeypatch.setenv("LONGHAUL_DEVSERVER_TEST_ROUTES", "true")
    settings = DevServerSettings()
    assert (settings.retry_timeout_ms, settings.db, settings.test_routes) == (
        5000,
        "/tmp/x.sqlite3",
        True,
    )
    assert settings.keepalive_s is None
    for bad in ("0", "1.5", "soon"):
        monkeypatch.setenv("RESONATE_TASKS__RETRY_TIMEOUT", bad)
        with pytest.raises(ValidationError):
            DevServerSettings()


async def test_answers_wait_for_the_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A create is answered only once its journal row is committed, and so is a read after it.

    The commit is held back here; neither the create nor a read that could show
    it may answer before it is released.
    """
    release = threading.Event()
    commit = SqliteStore._commit

    def slow_commit(self: SqliteStore, rows: Any, snap: Any) -> None:
        release.wait(5)
        commit(self, rows, snap)

    monkeypatch.setattr(SqliteStore, "_commit", slow_commit)
    dev = DevServer(DevServerSettings(db=str(tmp_path / "dev.sqlite3")))
    async with TestServer(dev.app()) as server, aiohttp.ClientSession() as session:
        url = str(server.make_url("/"))
        create = asyncio.create_task(call(session, url, "promise.create", **targeted("held")))
        await asyncio.sleep(0.05)
        read = asyncio.create_task(call(session, url, "promise.get", id="held"))
        await asyncio.sleep(0.3)
        assert not create.done() and not read.done()
        release.set()
        assert (await create)["head"]["status"] == 201
        assert (await read)["head"]["status"] == 200


def test_snapshot_round_trips_including_values_msgpack_cannot_carry() -> None:
    state = ReferenceState(retry_timeout_ms=1000)
    for i, param in enumerate([{"a": 1}, {"n": 2**70}]):
        env = as_envelope(
            {"kind": "promise.create", "corrId": "c", "id": f"p{i}", "timeoutAt": 10**12,
             "param": param, "tags": {"resonate:target": "poll://any@w"}}
        )  # fmt: skip
        state.apply(env, 1000)
        blob = state.dump()
        assert blob[:1] == (b"M" if i == 0 else b"P")
        again = ReferenceState.load(blob, 1000)
        assert snapshot(again._state) == snapshot(state._state)
        assert again._state.t_timeouts.get(f"p{i}").timeout == 2000


async def test_a_journal_that_cannot_be_written_fails_requests_and_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is acknowledged once the disk fails; /ready says 503 like the real server's."""

    def broken(self: SqliteStore, rows: Any, snap: Any) -> None:
        raise OSError("disk I/O error")

    monkeypatch.setattr(SqliteStore, "_commit", broken)
    dev = DevServer(DevServerSettings(db=str(tmp_path / "dev.sqlite3")))
    async with TestServer(dev.app()) as server, aiohttp.ClientSession() as session:
        url = str(server.make_url("/"))
        answer = await call(session, url, "promise.create", **targeted("lost"))
        assert answer["head"]["status"] == 500
        async with session.get(server.make_url("/ready")) as ready:
            assert ready.status == 503
        later = await call(session, url, "promise.create", **targeted("refused"))
        assert later["head"]["status"] == 500
        assert dev.state.promise("refused") is None  # not applied at all
