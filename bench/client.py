"""Small helpers the orchestrator uses outside the timed windows: make jobs, count completions."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
import uuid
from typing import Any

import aiohttp


def _completed_pattern(kind: str) -> re.Pattern[str]:
    return re.compile(
        rf'^longhaul_worker_jobs_completed_total\{{kind="{re.escape(kind)}"\}} ([0-9.e+]+)$', re.M
    )


async def _post_many(url: str, api: str, n: int, kind: str, payload: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    sem = asyncio.Semaphore(8)
    prefix = uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            key = f"prep-{prefix}-{i}"
            async with sem:
                if api == "begin":
                    async with session.post(f"{url}/begin", params={"id": key}, json=payload) as r:
                        r.raise_for_status()
                    ids.append(key)
                else:
                    async with session.post(
                        f"{url}/v1/jobs",
                        json={"kind": kind, "input": payload},
                        headers={"Idempotency-Key": key},
                    ) as r:
                        r.raise_for_status()
                        ids.append((await r.json(content_type=None))["id"])

        await asyncio.gather(*(one(i) for i in range(n)))
    return ids


async def _get_many(url: str, prefix: str, ids: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        for job_id in ids:
            async with session.get(f"{url}{prefix}{job_id}") as r:
                await r.read()


def get_all(url: str, prefix: str, ids: list[str]) -> None:
    asyncio.run(_get_many(url, prefix, ids))


def post_jobs(
    url: str, api: str, n: int, kind: str = "echo", payload: dict | None = None
) -> list[str]:
    return asyncio.run(_post_many(url, api, n, kind, payload or {"n": 1, "s": "bench"}))


async def _rpc_many(resonate_url: str, n: int, fn: str, payload: dict[str, Any]) -> list[str]:
    import logging

    from resonate.resonate import Resonate

    # stop() closes the connection under the handles' background listener reads: quiet.
    logging.getLogger("resonate").setLevel(logging.CRITICAL)
    client = Resonate(
        url=resonate_url, group="bench", sources=[], env={}, subscription_refresh_secs=0
    )
    prefix = uuid.uuid4().hex[:8]
    ids = [f"ref-pending-{prefix}-{i}" for i in range(n)]
    try:
        handles = [client.options(target="worker").rpc(i, fn, payload) for i in ids]
        await asyncio.gather(*(h.id() for h in handles))
    finally:
        await client.stop()
    return ids


def rpc_jobs(resonate_url: str, n: int, fn: str, payload: dict[str, Any]) -> list[str]:
    """Jobs created exactly as the reference gateway creates them (``options(target).rpc``)."""
    return asyncio.run(_rpc_many(resonate_url, n, fn, payload))


def worker_completed(metrics_urls: list[str], kind: str = "echo") -> int:
    pattern = _completed_pattern(kind)
    total = 0.0
    for url in metrics_urls:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            text = response.read().decode()
        match = pattern.search(text)
        total += float(match.group(1)) if match else 0.0
    return int(total)


def celery_completed(redis_url: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return sum(1 for _ in client.scan_iter("celery-task-meta-*", count=5000))
    finally:
        client.close()


def wait_for(count, target: int, timeout: float) -> float | None:
    """Seconds until ``count() >= target`` (polled), or None after ``timeout``."""
    t0 = time.monotonic()
    while True:
        if count() >= target:
            return round(time.monotonic() - t0, 3)
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.05)
