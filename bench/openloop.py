"""Open-loop job client: fixed arrival schedule, latency from the *scheduled* send time.

``python -m bench.openloop '<params json>' <out.json>``

Job ``i`` is due at ``t0 + i / rate``, whether or not earlier jobs have
answered (no coordinated omission: a slow server cannot slow the arrivals, and
every latency counts from when the request was due, not from when it went out).
Each job is submitted, then observed until it is terminal:

- ``observe="wait"``: ``GET /v1/jobs/{id}?wait=W`` until terminal (Longhaul, Celery app);
- ``observe="poll"``: ``GET`` at once, then every ``poll_s`` (v1 API or ``/wait?id=``).

``api="v1"`` posts to ``/v1/jobs`` with an Idempotency-Key; ``api="begin"`` posts
to ``/begin?id=`` (the reference pattern) and polls ``/wait?id=``; its settle
times are read from the Resonate server afterwards (``resonate_url``).

Runs in its own process at raised priority (``nice -5`` when permitted) so its
clock readings are taken promptly even though it shares the CPUs with the
system under test; the lag between due and actual send time is reported.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from datetime import datetime
from typing import Any

import aiohttp

TERMINAL = {"succeeded", "failed", "canceled", "timed_out", "resolved", "rejected"}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summary_ms(values: list[float]) -> dict[str, float | int | None]:
    ms = [v * 1000 for v in values]

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 2)

    return {
        "n": len(ms),
        "mean": r(sum(ms) / len(ms)) if ms else None,
        "p50": r(pct(ms, 50)),
        "p90": r(pct(ms, 90)),
        "p95": r(pct(ms, 95)),
        "p99": r(pct(ms, 99)),
        "max": r(max(ms)) if ms else None,
    }


def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


class Job:
    __slots__ = (
        "accepted",
        "completed_at",
        "done",
        "due",
        "error",
        "id",
        "reads",
        "sent",
        "status",
    )

    def __init__(self, due: float) -> None:
        self.due = due
        self.sent = self.accepted = self.done = self.completed_at = None
        self.id: str | None = None
        self.status: str | None = None
        self.error: str | None = None
        self.reads = 0


async def run_job(session: aiohttp.ClientSession, p: dict[str, Any], job: Job, key: str) -> None:
    base = p["url"]
    deadline = job.due + p["settle_timeout_s"]
    try:
        job.sent = time.time()
        if p["api"] == "begin":
            async with session.post(f"{base}/begin", params={"id": key}, json=p["input"]) as resp:
                body = await resp.json(content_type=None)
                if resp.status >= 300:
                    raise RuntimeError(f"submit {resp.status}")
            job.id = key
            read_url, params = f"{base}/wait", {"id": key}
        else:
            async with session.post(
                f"{base}/v1/jobs",
                json={"kind": p["kind"], "input": p["input"]},
                headers={"Idempotency-Key": key},
            ) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 202:
                    raise RuntimeError(f"submit {resp.status}")
            job.id = body["id"]
            read_url = f"{base}/v1/jobs/{job.id}"
            params = {"wait": str(p["wait_s"])} if p["observe"] == "wait" else {}
        job.accepted = time.time()
        while time.time() < deadline:
            if p["observe"] == "poll" and job.reads:  # first read right after the 202
                await asyncio.sleep(p["poll_s"])
            async with session.get(read_url, params=params) as resp:
                body = await resp.json(content_type=None)
            job.reads += 1
            if body.get("status") in TERMINAL:
                job.done = time.time()
                job.status = body["status"]
                job.completed_at = _epoch(body.get("completed_at"))
                return
        job.error = "not terminal before the settle timeout"
    except Exception as exc:  # recorded, counted, reported
        job.error = f"{type(exc).__name__}: {exc}"


async def settle_times(p: dict[str, Any], jobs: list[Job]) -> None:
    """Reference pattern: its /wait has no timestamps; read settledAt from the server."""
    from resonate_base import PROTOCOL_VERSION

    async with aiohttp.ClientSession() as session:
        sem = asyncio.Semaphore(32)

        async def one(job: Job) -> None:
            envelope = {
                "kind": "promise.get",
                "head": {"corrId": uuid.uuid4().hex, "version": PROTOCOL_VERSION},
                "data": {"id": job.id},
            }
            async with sem, session.post(p["resonate_url"] + "/", json=envelope) as resp:
                data = (await resp.json(content_type=None)).get("data", {})
            settled = (data.get("promise") or {}).get("settledAt")
            job.completed_at = settled / 1000 if settled else None

        await asyncio.gather(*(one(j) for j in jobs if j.id and j.done))


async def main_async(p: dict[str, Any]) -> dict[str, Any]:
    rate, duration = float(p["rate"]), float(p["duration_s"])
    n = max(1, int(rate * duration))
    prefix = p.get("prefix") or uuid.uuid4().hex[:8]
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=p["settle_timeout_s"] + 30)
    jobs: list[Job] = []
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        t0 = time.time() + 0.2
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            job = Job(due)
            jobs.append(job)
            tasks.append(asyncio.create_task(run_job(session, p, job, f"{prefix}-{i}")))
        await asyncio.wait(tasks, timeout=p["settle_timeout_s"] + 35)
    if p["api"] == "begin" and p.get("resonate_url"):
        await settle_times(p, jobs)
    ok = [j for j in jobs if j.done is not None and j.status in ("succeeded", "resolved")]
    last_done = max((j.done for j in ok), default=t0)
    return {
        "params": {k: v for k, v in p.items() if k != "input"},
        "jobs": n,
        "succeeded": len(ok),
        "errors": sum(1 for j in jobs if j.error),
        "error_examples": sorted({j.error for j in jobs if j.error})[:5],
        "offered_rate": rate,
        "completion_rate": round(len(ok) / (last_done - t0), 1) if ok else 0.0,
        "send_lag_ms": summary_ms([j.sent - j.due for j in jobs if j.sent]),
        "submit_ms": summary_ms([j.accepted - j.due for j in jobs if j.accepted]),
        "e2e_ms": summary_ms([j.done - j.due for j in ok]),
        "after_202_ms": summary_ms([j.done - j.accepted for j in ok]),
        "settled_ms": summary_ms([j.completed_at - j.due for j in ok if j.completed_at]),
        "observe_lag_ms": summary_ms([j.done - j.completed_at for j in ok if j.completed_at]),
        "reads_per_job": round(sum(j.reads for j in ok) / len(ok), 2) if ok else None,
    }


def main() -> None:
    params = json.loads(sys.argv[1])
    try:
        os.nice(-5)
    except OSError:
        pass
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(main_async(params))
    with open(sys.argv[2], "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
