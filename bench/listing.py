"""The ``listing`` phase: what one ``promise.search`` page costs the Resonate dev server.

One dev server (state in memory) is filled with job-like promises (half of
them tenant ``acme``'s, ``lua/preload_jobs.lua``), ``FAILED`` of acme's are
rejected, and at each size of ``Config.listing_sizes`` pages are asked one
after another, as ``GET /v1/jobs`` asks them (``limit`` 50):

- ``failed``: acme's rejected jobs (selective: few matches among many);
- ``all``: acme's jobs, any status (broad: the first page fills at once);
- ``failed, unindexed``: the same as ``failed`` through a tag the dev server
  keeps no index for, so it walks every promise: the shape of the real
  server's search (a Postgres scan with ``tags @> $1`` and no index on tags).

Latency is per request from this process (one connection, sequential, for at
least ``Config.listing_pages`` pages and ``duration_s`` seconds); server CPU per
page is the dev server's CPU time over the run divided by the pages. The dev
server is not the real server: its numbers say how the cost grows with the
promises held, not what Postgres would take.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from bench import load
from bench.procs import cpu_seconds, spawn
from services.stack.layout import devserver_spec
from services.stack.processes import free_port

LIMIT = 50
FAILED = 20
QUERIES: dict[str, dict[str, Any]] = {
    "failed": {"state": "rejected", "tags": {"longhaul:tenant": "acme", "longhaul:type": "job"}},
    "all": {"tags": {"longhaul:tenant": "acme", "longhaul:type": "job"}},
    "failed, unindexed": {"state": "rejected", "tags": {"bench:tenant": "acme"}},
}


def listing(ctx: Any) -> dict[str, Any]:
    from resonate_base import PROTOCOL_VERSION

    cfg = ctx.cfg
    port = free_port()
    server = spawn(devserver_spec(ctx.env, port), ctx.raw)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_ready(60)
        results: dict[str, Any] = {"limit": LIMIT, "failed": FAILED, "sizes": {}}
        with httpx.Client(base_url=url, timeout=30) as http:

            def send(kind: str, **data: Any) -> dict[str, Any]:
                head = {"corrId": f"bench-{time.monotonic_ns()}", "version": PROTOCOL_VERSION}
                answer = http.post("/", json={"kind": kind, "head": head, "data": data}).json()
                if answer["head"]["status"] != 200:
                    raise RuntimeError(f"{kind}: {answer}")
                return answer["data"]

            failed: set[str] = set()
            for size in cfg.listing_sizes:
                _fill(url, http, size, PROTOCOL_VERSION)
                # A few more of acme's fail at each size: still few among many.
                pending = send("promise.search", state="pending", limit=1000, **QUERIES["all"])
                for p in pending["promises"][:: max(1, len(pending["promises"]) // FAILED)]:
                    if len(failed) >= FAILED:
                        break
                    send("promise.settle", id=p["id"], state="rejected", value={})
                    failed.add(p["id"])
                held = http.get("/ready").json()["promises"]
                ctx.log(f"listing: {held} promises held, {len(failed)} of acme's failed")
                row: dict[str, Any] = {"held": held}
                for name, query in QUERIES.items():
                    row[name] = _measure(send, server.pid, query, cfg.listing_pages, cfg.duration_s)
                results["sizes"][str(size)] = row
        return results
    finally:
        server.stop(10)


def _fill(url: str, http: httpx.Client, target: int, version: str, limit_s: float = 300) -> None:
    deadline = time.monotonic() + limit_s
    timeout_at = str(int(time.time() * 1000) + 24 * 3600 * 1000)
    rate = 2000.0
    while time.monotonic() < deadline:
        remaining = target - int(http.get("/ready").json()["promises"])
        if remaining <= 0:
            return
        result = load.wrk(
            url,
            "preload_jobs.lua",
            [f"l{time.time_ns()}", str(-(-remaining // load.threads_for(32))), version, timeout_at],
            connections=32,
            duration_s=min(20.0, max(1.0, remaining / rate)),
        )
        rate = max(200.0, result["rps"])
    raise RuntimeError(f"could not fill the dev server to {target} promises in {limit_s:g}s")


def _measure(
    send: Any, pid: int | None, query: dict[str, Any], pages: int, min_s: float
) -> dict[str, Any]:
    """At least ``pages`` pages and ``min_s`` seconds: CPU time is counted in 10 ms ticks."""
    for _ in range(3):  # warm-up: the first search after creates sorts the index
        send("promise.search", limit=LIMIT, **query)
    latencies: list[float] = []
    found = 0
    cpu_before = cpu_seconds(pid) if pid else 0.0
    until = time.monotonic() + min_s
    while len(latencies) < pages or time.monotonic() < until:
        started = time.perf_counter()
        page = send("promise.search", limit=LIMIT, **query)
        latencies.append((time.perf_counter() - started) * 1000)
        found = len(page["promises"])
    cpu = (cpu_seconds(pid) - cpu_before) if pid else 0.0
    pages = len(latencies)
    latencies.sort()
    return {
        "pages": pages,
        "found": found,
        "latency_ms_p50": round(statistics.median(latencies), 3),
        "latency_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "server_cpu_ms_per_page": round(cpu * 1000 / pages, 3),
    }
