"""Unmodified SDK clients use the dev server over HTTP + SSE, like a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from resonate.resonate import Resonate

from services.devserver.server import DevServer
from services.devserver.settings import DevServerSettings

pytestmark = pytest.mark.unit


@pytest.fixture(params=["memory", "sqlite"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    db = ":memory:" if request.param == "memory" else str(tmp_path / "dev.sqlite3")
    dev = DevServer(DevServerSettings(tick_interval_s=0.05, db=db))
    async with TestServer(dev.app()) as server:
        yield str(server.make_url("")).rstrip("/")


async def test_rpc_runs_on_a_worker_of_the_target_group(url: str) -> None:
    ran_on: list[str] = []

    def make_worker(pid: str) -> Resonate:
        worker = Resonate(url=url, group="worker", pid=pid, env={})

        @worker.register(name="double")
        async def double(ctx, n: int) -> int:
            ran_on.append(pid)
            return n * 2

        return worker

    workers = [make_worker("w1"), make_worker("w2")]
    client = Resonate(url=url, group="client", env={})
    try:
        await asyncio.sleep(0.3)  # SSE connections established
        handles = [client.options(target="worker").rpc(f"d{i}", "double", i) for i in range(8)]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 10)
        assert results == [i * 2 for i in range(8)]
        assert set(ran_on) <= {"w1", "w2"} and len(ran_on) == 8
    finally:
        for r in (*workers, client):
            await r.stop()


async def test_durable_sleep_and_steps_over_the_wire(url: str) -> None:
    worker = Resonate(url=url, group="worker", pid="w", env={}, ttl=timedelta(seconds=5))

    async def step(ctx, x: int) -> int:
        return x + 1

    @worker.register(name="flow")
    async def flow(ctx, x: int) -> int:
        y = await ctx.run(step, x)
        await ctx.sleep(timedelta(milliseconds=200))
        return await ctx.run(step, y)

    client = Resonate(url=url, group="client", env={})
    try:
        await asyncio.sleep(0.3)
        handle = client.options(target="worker").rpc("flow-1", "flow", 1)
        assert await asyncio.wait_for(handle.result(), 10) == 3
    finally:
        await worker.stop()
        await client.stop()
