"""The ``webhooks`` phase: completion webhooks to a local receiver.

Echo jobs submitted with ``notify`` at a fixed rate (open loop) to a fresh
Longhaul stack whose workers sign with a test secret; a receiver on
127.0.0.1 (aiohttp, in this process's own thread) verifies each delivery with
``standardwebhooks`` and notes when it arrived. Measured:

- settle to delivered: arrival minus the job's ``completed_at`` (the event's
  ``timestamp``; same host, same clock), p50/p99;
- submit to delivered, p50/p99;
- deliveries per second over the run (first submit to last arrival);
- ``plain``: the same rate without ``notify``, submit to completion
  observed by polling, so the cost of the notifier (a second root promise,
  a suspended task and its resume per job) shows in the same run.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web
from standardwebhooks import Webhook

from bench import stacks

SECRET = "whsec_" + base64.b64encode(b"longhaul-bench-webhook-key!").decode()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


class _Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, tuple[float, Any]] = {}
        self.duplicates = 0
        self.invalid = 0
        self._verify = Webhook(SECRET)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return self._runner.addresses[0][1]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        at = time.time()
        try:
            event = self._verify.verify(body, dict(request.headers))
        except Exception:
            self.invalid += 1
            return web.Response(status=400)
        msg_id = request.headers["webhook-id"]
        if msg_id in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[msg_id] = (at, event)
        return web.Response(status=204)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


async def _submit_all(
    url: str, rate: float, duration_s: float, body: Callable[[int], dict[str, Any]]
) -> dict[str, float]:
    """Open loop: job i is due at start + i / rate; returns id -> submit time."""
    submitted: dict[str, float] = {}
    n = max(1, int(rate * duration_s))
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        start = time.time()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.time()))
            at = time.time()
            response = await http.post("/v1/jobs", json=body(i))
            if response.status_code == 202:
                submitted[response.json()["id"]] = at

        await asyncio.gather(*(one(i) for i in range(n)))
    return submitted


async def _completions(url: str, ids: list[str], timeout_s: float) -> dict[str, float]:
    """Poll (long-poll, 64 at a time) until each job completed; id -> completed_at."""
    done: dict[str, float] = {}
    slots = asyncio.Semaphore(64)
    deadline = time.time() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=40) as http:

        async def one(job_id: str) -> None:
            while time.time() < deadline:
                async with slots:
                    body = (await http.get(f"/v1/jobs/{job_id}", params={"wait": 5})).json()
                if body.get("status") != "pending":
                    done[job_id] = datetime.fromisoformat(body["completed_at"]).timestamp()
                    return

        await asyncio.gather(*(one(i) for i in ids))
    return done


def webhooks(ctx: Any) -> dict[str, Any]:
    cfg = ctx.cfg
    rate = 20.0 if cfg.duration_s <= 3 else 50.0
    duration_s = max(2.0, cfg.e2e_duration_s)
    receiver = _Receiver()
    hook_url = f"http://127.0.0.1:{receiver.port}/hook"
    env = {
        **ctx.env,
        "LONGHAUL_WEBHOOK_SECRETS": SECRET,
        "LONGHAUL_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "LONGHAUL_WEBHOOK_RETRY_DELAYS_S": "0.5,1,2",
    }
    system = stacks.longhaul(ctx.raw / "webhooks", env, resonate_url=ctx.resonate_url)
    try:
        # Warm-up: lazy imports in every process on the path.
        asyncio.run(_submit_all(system.url, 10, 1, lambda i: {"kind": "echo", "input": {"w": i}}))
        time.sleep(0.5)
        plain_sub = asyncio.run(
            _submit_all(system.url, rate, duration_s, lambda i: {"kind": "echo", "input": {"p": i}})
        )
        plain_done = asyncio.run(_completions(system.url, list(plain_sub), 60))
        receiver.arrivals.clear()
        t0 = time.time()
        submitted = asyncio.run(
            _submit_all(
                system.url,
                rate,
                duration_s,
                lambda i: {"kind": "echo", "input": {"n": i}, "notify": {"url": hook_url}},
            )
        )
        deadline = time.time() + 60
        while len(receiver.arrivals) < len(submitted) and time.time() < deadline:
            time.sleep(0.05)
        arrivals = {k.removeprefix("msg_"): v for k, v in receiver.arrivals.items()}
        settle = [
            at - datetime.fromisoformat(event["timestamp"]).timestamp()
            for at, event in arrivals.values()
        ]
        e2e = [arrivals[j][0] - s for j, s in submitted.items() if j in arrivals]
        last = max((at for at, _ in arrivals.values()), default=t0)
        plain = [plain_done[j] - s for j, s in plain_sub.items() if j in plain_done]
        result = {
            "rate_per_s": rate,
            "jobs": len(submitted),
            "delivered": len(arrivals),
            "duplicates": receiver.duplicates,
            "invalid_signatures": receiver.invalid,
            "settle_to_delivered_ms": {"p50": _pct(settle, 0.5), "p99": _pct(settle, 0.99)},
            "submit_to_delivered_ms": {"p50": _pct(e2e, 0.5), "p99": _pct(e2e, 0.99)},
            "deliveries_per_s": round(len(arrivals) / max(1e-9, last - t0), 1),
            "plain_submit_to_completed_ms": {"p50": _pct(plain, 0.5), "p99": _pct(plain, 0.99)},
            "cpus": os.cpu_count(),
        }
        ctx.log(
            f"  webhooks at {rate:g}/s: {result['delivered']}/{result['jobs']} delivered, "
            f"settle->delivered p50 {result['settle_to_delivered_ms']['p50']} ms "
            f"p99 {result['settle_to_delivered_ms']['p99']} ms, "
            f"{result['deliveries_per_s']}/s"
        )
        return result
    finally:
        system.stop()
        receiver.close()
