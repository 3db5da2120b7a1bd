"""A SIGKILLed dev server (``python -m services.devserver``) loses nothing it acknowledged.

Every answer to a request that changed the state is written only after its
journal row is committed (SQLite WAL, ``synchronous=FULL``), so killing the
process at any moment, requests still in flight, must leave every acknowledged
create and settle in the file for the next start. (SIGKILL alone would be
survived by rows merely written to the OS; the fsync at COMMIT is what also
covers a crash of the machine, which no test here simulates.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.stack.layout import devserver_spec
from services.stack.processes import ManagedProcess, free_port
from tests.devserver.wire_client import Poller, call_raw, eventually, targeted

pytestmark = pytest.mark.integration


class DevServerProcess:
    def __init__(self, db: Path, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        base = {**os.environ, "LONGHAUL_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
        spec = devserver_spec(base, self.port, LONGHAUL_DEVSERVER_DB=str(db), **env)
        self.process = ManagedProcess(spec, log_path=log_dir / "devserver.log")
        self.url = f"http://127.0.0.1:{self.port}/"

    def start(self) -> float:
        """Start and wait until it answers; returns the seconds that took."""
        started = time.monotonic()
        self.process.start().wait_ready(timeout=60)
        return time.monotonic() - started

    def kill(self) -> None:
        self.process.kill()
        assert not self.process.alive()

    async def freeze_then_kill(self) -> None:
        """SIGSTOP, read every answer already sent, then SIGKILL.

        A plain SIGKILL makes the kernel reset the connections, and answers the
        client had not read yet are lost with them: the test could not tell
        "acknowledged and lost" from "never acknowledged". Frozen, the server
        sends nothing more and the client reads all it was sent.
        """
        self.process.signal(signal.SIGSTOP)
        await asyncio.sleep(1.0)
        self.kill()


@pytest.fixture
def devserver(tmp_path: Path) -> Iterator[Any]:
    made: list[DevServerProcess] = []

    def make(**env: str) -> DevServerProcess:
        server = DevServerProcess(tmp_path / "state" / "dev.sqlite3", tmp_path, **env)
        made.append(server)
        return server

    yield make
    for server in made:
        server.process.stop(timeout=5)


async def ready(session: aiohttp.ClientSession, server: DevServerProcess) -> dict[str, Any]:
    async with session.get(server.url + "ready") as response:
        return await response.json()


async def test_sigkill_loses_no_acknowledged_create_or_settle(devserver: Any) -> None:
    server = devserver(RESONATE_TASKS__RETRY_TIMEOUT="500", LONGHAUL_DEVSERVER_SNAPSHOT_EVERY="200")
    server.start()
    created: set[str] = set()
    settled: dict[str, Any] = {}

    async def create(session: aiohttp.ClientSession, promise_id: str) -> None:
        status, _ = await call_raw(session, server.url, "promise.create", **targeted(promise_id))
        if status in (200, 201):
            created.add(promise_id)

    async def settle(session: aiohttp.ClientSession, promise_id: str) -> None:
        value = {"data": promise_id}
        status, _ = await call_raw(
            session, server.url, "promise.settle", id=promise_id, state="resolved", value=value
        )
        if status == 200:
            settled[promise_id] = value

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        await asyncio.gather(*(create(session, f"a{i}") for i in range(300)))
        await asyncio.gather(*(settle(session, f"a{i}") for i in range(0, 300, 2)))
        assert len(created) == 300 and len(settled) == 150
        # Then steady load from 32 clients, and the kill in the middle of it:
        # only what was answered must survive.

        async def client(n: int) -> None:
            for k in range(10_000):
                await create(session, f"b{n}.{k}")
                await settle(session, f"b{n}.{k}")

        clients = [asyncio.create_task(client(n)) for n in range(32)]
        await eventually(lambda: len(created) >= 600, timeout=60)
        await server.freeze_then_kill()
        await asyncio.gather(*clients, return_exceptions=True)

    server.start()
    async with aiohttp.ClientSession() as session:
        missing, wrong = [], []
        for promise_id in sorted(created):
            status, got = await call_raw(session, server.url, "promise.get", id=promise_id)
            if status != 200:
                missing.append(promise_id)
                continue
            promise = got["data"]["promise"]
            if promise_id in settled and (
                promise["state"] != "resolved" or promise["value"] != settled[promise_id]
            ):
                wrong.append((promise_id, promise))
        assert missing == [] and wrong == []
        body = await ready(session, server)
        assert body["storage_mode"] == "sqlite" and body["promises"] >= len(created)
        assert body["recovered"]["replayed"] > 0  # the kill left journal rows past a snapshot


async def test_pending_tasks_are_offered_by_the_retry_timer_after_a_restart(devserver: Any) -> None:
    """After a restart nothing is pushed from the replay; the retry timer offers the tasks."""
    server = devserver(RESONATE_TASKS__RETRY_TIMEOUT="1000")
    server.start()
    async with aiohttp.ClientSession() as session:
        for i in range(30):
            await call_raw(session, server.url, "promise.create", **targeted(f"t{i}"))
    server.kill()
    server.start()
    async with aiohttp.ClientSession() as session:
        poller = Poller(session, f"{server.url}poll/worker/w1")
        await eventually(lambda: len(poller.messages) == 30, timeout=10)
        assert {m["data"]["task"]["id"] for m in poller.messages} == {f"t{i}" for i in range(30)}
        await poller.close()


async def test_restart_with_thousands_of_promises_is_quick(devserver: Any) -> None:
    """3000 promises: start-up replaying the whole journal, then from a snapshot."""
    server = devserver(LONGHAUL_DEVSERVER_SNAPSHOT_EVERY="1000000")
    server.start()
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector) as session:
        for start in range(0, 3000, 500):
            await asyncio.gather(
                *(
                    call_raw(session, server.url, "promise.create", **targeted(f"c{i}"))
                    for i in range(start, start + 500)
                )
            )
    server.kill()
    from_journal = server.start()
    async with aiohttp.ClientSession() as session:
        body = await ready(session, server)
    assert body["promises"] == 3000 and body["recovered"]["replayed"] == 3000
    assert body["recovered"]["seconds"] < 3, body["recovered"]
    assert from_journal < 10
    server.process.stop(timeout=10)  # a clean stop writes a snapshot
    from_snapshot = server.start()
    async with aiohttp.ClientSession() as session:
        body = await ready(session, server)
    assert body["promises"] == 3000 and body["recovered"]["replayed"] == 0
    assert body["recovered"]["seconds"] < 1, body["recovered"]
    assert from_snapshot < 10


async def test_a_second_server_on_the_same_file_fails_at_boot(devserver: Any) -> None:
    first = devserver()
    first.start()
    second = devserver()
    second.process.start()
    assert second.process.wait(30) and second.process.returncode() == 2
