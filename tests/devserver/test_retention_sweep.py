"""The dev server's retention sweep: exactly the rule's groups, durably, and the file shrinks."""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestServer

from services.devserver.server import DevServer
from services.devserver.settings import DevServerSettings
from services.devserver.store import SqliteStore
from tests.devserver.wire_client import call

pytestmark = pytest.mark.unit

T0 = 1_900_000_000_000
RETENTION_MS = 60_000
TARGET = "poll://any@worker"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def settings(tmp_path: Path, **extra: Any) -> DevServerSettings:
    return DevServerSettings(
        db=str(tmp_path / "dev.sqlite3"),
        LONGHAUL_RETENTION="60s",
        LONGHAUL_RETENTION_ADVERTS="10s",
        **extra,
    )


class Wire:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def create(self, promise_id: str, tags: dict[str, str]) -> dict[str, Any]:
        return await call(
            self.session,
            self.url,
            "promise.create",
            id=promise_id,
            timeoutAt=2**62,
            param={"data": "x" * 200},
            tags=tags,
        )

    async def settle(self, promise_id: str) -> None:
        answer = await call(
            self.session, self.url, "promise.settle", id=promise_id, state="resolved", value={}
        )
        assert answer["head"]["status"] == 200, answer

    async def status(self, promise_id: str) -> int:
        answer = await call(self.session, self.url, "promise.get", id=promise_id)
        return answer["head"]["status"]

    async def job(self, job_id: str, steps: int = 2, finish: bool = True) -> list[str]:
        """A root like the gateway's, settled steps like the SDK's, a marker like the worker's."""
        await self.create(
            job_id,
            {"resonate:target": TARGET, "resonate:origin": job_id, "longhaul:kind": "echo"},
        )
        ids = [job_id]
        for n in range(1, steps + 1):
            step = f"{job_id}.{n}"
            await self.create(step, {"resonate:origin": job_id, "resonate:branch": job_id})
            await self.settle(step)
            ids.append(step)
        marker = f"{job_id}.exec.1"
        await self.create(marker, {"longhaul:exec": job_id, "resonate:origin": job_id})
        await self.settle(marker)
        ids.append(marker)
        if finish:
            await self.settle(job_id)
        return ids


async def test_the_sweep_deletes_finished_groups_past_retention_and_nothing_else(
    tmp_path: Path,
) -> None:
    clock = Clock()
    dev = DevServer(settings(tmp_path, LONGHAUL_RETENTION_TENANTS="keep=0,short=1s"), clock=clock)
    async with TestServer(dev.app()) as server, aiohttp.ClientSession() as session:
        wire = Wire(session, str(server.make_url("/")))
        old = await wire.job("default.job-old")
        running = await wire.job("default.job-running", finish=False)
        notifying = await wire.job("default.job-notifying")
        await wire.create(
            "default.job-notifying.notify", {"resonate:origin": "default.job-notifying"}
        )
        kept = await wire.job("keep.job-forever")
        await wire.create("longhaul-advert.echo.v1.abc", {})
        await wire.settle("longhaul-advert.echo.v1.abc")
        await wire.create("longhaul-advert.sleep.v1.def", {})  # pending advert: stays
        await wire.create("ledger.default.job-old.step.1", {})
        await wire.settle("ledger.default.job-old.step.1")
        # A group without a job root (no longhaul:kind) is not Longhaul's: it stays.
        await wire.create("other", {"resonate:origin": "other"})
        await wire.settle("other")
        clock.now += RETENTION_MS - 5_000
        young = await wire.job("default.job-young")
        short = await wire.job("short.job-s")
        tasks_before = dev.state.counts()["tasks"]

        clock.now += 5_000  # old: exactly at retention; young: 5 s old; short: past its 1 s
        result = await dev.sweeper.sweep_once(dev.state, dev.store, clock.now)

        assert result is not None
        assert (result.groups, result.adverts) == (2, 1)
        assert result.promises == len(old) + len(short) + 1
        assert result.tasks == 2 == tasks_before - dev.state.counts()["tasks"]
        for gone in [*old, *short, "longhaul-advert.echo.v1.abc"]:
            assert await wire.status(gone) == 404, gone
        for stays in [
            *running,
            *notifying,
            "default.job-notifying.notify",
            *kept,
            *young,
            "longhaul-advert.sleep.v1.def",
            "ledger.default.job-old.step.1",
            "other",
        ]:
            assert await wire.status(stays) == 200, stays
        # Indexes hold nothing of what went (so the memory is really released).
        st = dev.state._state
        assert "default.job-old" not in st.promises.by_origin
        assert "default.job-old" not in st.promises.by_branch
        assert all(not p.startswith("default.job-old") for p in st.tasks)
        assert st.t_timeouts.get("default.job-old") is None

        # The notification settles: the next sweep takes its whole group.
        await wire.settle("default.job-notifying.notify")
        again = await dev.sweeper.sweep_once(dev.state, dev.store, clock.now)
        assert again is not None and again.groups == 1
        assert await wire.status("default.job-notifying.notify") == 404
        assert await wire.status("default.job-notifying") == 404
        body = await (await session.get(server.make_url("/metrics"))).text()
        assert 'longhaul_devserver_retention_deleted_total{what="groups"} 3.0' in body


async def test_a_restart_after_a_sweep_does_not_bring_deleted_promises_back(
    tmp_path: Path,
) -> None:
    clock = Clock()
    first = DevServer(settings(tmp_path), clock=clock)
    async with TestServer(first.app()) as server, aiohttp.ClientSession() as session:
        wire = Wire(session, str(server.make_url("/")))
        gone = await wire.job("default.job-a")
        clock.now += RETENTION_MS
        stays = await wire.job("default.job-b")
        assert await first.sweeper.sweep_once(first.state, first.store, clock.now) is not None
    second = DevServer(settings(tmp_path), clock=clock)
    async with TestServer(second.app()) as server, aiohttp.ClientSession() as session:
        wire = Wire(session, str(server.make_url("/")))
        for promise_id in gone:
            assert await wire.status(promise_id) == 404
        for promise_id in stays:
            assert await wire.status(promise_id) == 200


async def test_a_journaled_delete_is_replayed_without_a_snapshot(tmp_path: Path) -> None:
    """What a SIGKILL between the sweep's journal row and its snapshot leaves."""
    clock = Clock()
    dev = DevServer(settings(tmp_path, snapshot_every=10**6), clock=clock)
    async with TestServer(dev.app()) as server, aiohttp.ClientSession() as session:
        wire = Wire(session, str(server.make_url("/")))
        ids = await wire.job("default.job-a")
        await wire.job("default.job-b")
        dev.state.delete(ids)
        seq = dev.store.append(clock.now, "delete", msgspec.json.encode(ids))
        await dev.store.durable(seq)
        # Drop the final snapshot the shutdown would take: only the journal is left.
        dev.state.dump = lambda: None  # type: ignore[method-assign]
        dev.store.snapshot = lambda *a, **k: None  # type: ignore[method-assign]
    store = SqliteStore(str(tmp_path / "dev.sqlite3"))
    try:
        recovery = store.recover(30_000)
        assert recovery.replayed > 0
        assert recovery.state.promise("default.job-a") is None
        assert recovery.state.promise("default.job-b") is not None
    finally:
        store.close_sync()


def rows(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        return {
            "journal": db.execute("SELECT count(*) FROM journal").fetchone()[0],
            "pages": db.execute("PRAGMA page_count").fetchone()[0],
            "free": db.execute("PRAGMA freelist_count").fetchone()[0],
        }
    finally:
        db.close()


async def test_the_file_and_the_state_shrink_back_after_a_sweep(tmp_path: Path) -> None:
    clock = Clock()
    dev = DevServer(settings(tmp_path, snapshot_every=500), clock=clock)
    path = tmp_path / "dev.sqlite3"
    async with TestServer(dev.app()) as server, aiohttp.ClientSession() as session:
        wire = Wire(session, str(server.make_url("/")))
        await dev.store.durable()
        start_bytes = dev.store.file_bytes()
        for i in range(300):
            await wire.job(f"default.job-{i:04d}", steps=3)
        dev.store.snapshot(dev.state.dump())
        await dev.store.durable()
        full_bytes = dev.store.file_bytes()
        assert dev.state.counts()["promises"] == 300 * 5
        clock.now += RETENTION_MS
        result = await dev.sweeper.sweep_once(dev.state, dev.store, clock.now)
        assert result is not None and result.groups == 300
        # The compaction runs on the writer thread after the snapshot's commit.
        dev.store.snapshot(dev.state.dump())
        await wire.job("default.job-after")  # one more commit: the compaction is done
        after_bytes = dev.store.file_bytes()
        assert dev.state.counts() == {"promises": 4, "tasks": 1}
    gc.collect()
    assert full_bytes > 4 * start_bytes, (start_bytes, full_bytes)
    assert after_bytes < start_bytes + (full_bytes - start_bytes) / 10, (
        start_bytes,
        full_bytes,
        after_bytes,
    )
    counts = rows(path)
    assert counts["free"] < 10, counts
