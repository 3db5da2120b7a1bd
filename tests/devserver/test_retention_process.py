"""``python -m services.devserver`` with a short LONGHAUL_RETENTION stays bounded under load.

Rounds of jobs, each round swept away before the next: the promise count goes
back to zero, the file back to its first size, and the process's RSS stops at
the first round's peak (freed objects are reused; CPython keeps its arenas, so
RSS is not expected to drop to the boot value, only to stop growing).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.chaos.probes.procs import rss_bytes
from tests.devserver.test_durability import DevServerProcess
from tests.devserver.wire_client import call

pytestmark = pytest.mark.integration

JOBS_PER_ROUND = 300
TAGS = {"resonate:target": "poll://any@worker", "longhaul:kind": "echo"}


async def run_round(session: aiohttp.ClientSession, url: str, round_no: int) -> None:
    async def job(n: int) -> None:
        job_id = f"default.job-{round_no}-{n}"
        step = f"{job_id}.1"
        await call(
            session,
            url,
            "promise.create",
            id=job_id,
            timeoutAt=2**62,
            param={"data": "x" * 500},
            tags={**TAGS, "resonate:origin": job_id},
        )
        await call(
            session,
            url,
            "promise.create",
            id=step,
            timeoutAt=2**62,
            param={"data": "y" * 500},
            tags={"resonate:origin": job_id},
        )
        for promise_id in (step, job_id):
            await call(session, url, "promise.settle", id=promise_id, state="resolved", value={})

    queue = list(range(JOBS_PER_ROUND))

    async def client() -> None:
        while queue:
            await job(queue.pop())

    await asyncio.gather(*(client() for _ in range(20)))


async def test_rounds_of_jobs_leave_the_file_the_rows_and_the_rss_flat(tmp_path: Path) -> None:
    server = DevServerProcess(
        tmp_path / "dev.sqlite3",
        tmp_path,
        LONGHAUL_RETENTION="1s",
        LONGHAUL_DEVSERVER_RETENTION_SWEEP_S="0.5",
        LONGHAUL_DEVSERVER_SNAPSHOT_EVERY="1000",
    )
    server.start()
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> dict[str, Any]:
                async with session.get(server.url + "ready") as response:
                    return await response.json()

            first = await ready()
            samples = []
            for round_no in range(4):
                await run_round(session, server.url, round_no)
                peak = await ready()
                assert peak["promises"] == 2 * JOBS_PER_ROUND
                emptied: dict[str, Any] = {}

                async def swept(emptied: dict[str, Any] = emptied) -> bool:
                    emptied.update(await ready())
                    # The compaction follows the sweep on the writer thread.
                    small = emptied["file_bytes"] <= first["file_bytes"] + 256 * 1024
                    return emptied["promises"] == 0 and small

                deadline = asyncio.get_running_loop().time() + 30
                while not await swept():
                    assert asyncio.get_running_loop().time() < deadline, emptied
                    await asyncio.sleep(0.25)
                pid = server.process.pid
                assert pid is not None
                samples.append(
                    {
                        "rss": rss_bytes(pid),
                        "file": emptied["file_bytes"],
                        "peak": peak["file_bytes"],
                    }
                )
            last = await ready()
    finally:
        server.process.stop(timeout=10)
    assert last["retention_deleted"]["groups"] == 4 * JOBS_PER_ROUND
    assert last["tasks"] == 0
    # The file went back near the empty one after every round (the wait above);
    # no round's peak is above the first's.
    peaks = [s["peak"] for s in samples]
    assert max(peaks[1:]) <= peaks[0] * 1.5, samples
    # RSS: the later rounds reuse what the first one freed.
    rss = [s["rss"] for s in samples]
    assert max(rss[1:]) <= rss[0] * 1.10, samples
