"""CPU per status read inside one process: the ASGI app alone, no network.

``python -m bench.asgi_cost <app> <requests>`` (run from the root of the
services/ tree to measure; the bench phase does that for patched variants)
calls an app's ASGI entry directly for ``requests`` reads of one completed
job and prints one JSON object with the process CPU microseconds per read.

The Resonate server's answer is real: a dev server in this process creates and
resolves the promise, and its ``promise.get`` answer is recorded and stopped.
Then the SDK's HTTP send is replaced by a replay of that answer (with the
request's correlation id), so every app runs its full Resonate SDK code but no
socket, no uvicorn and no other process share the measurement. Rounds in one
process agree to a few microseconds (separate processes to about 5%), which
a wrk run on two shared cores cannot show.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

# As in the gateway's entry point: prometheus_client picks multiprocess mode when
# first imported, so the variable must be set before any import of it.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="asgi-cost-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], True)

JOB_ID = "default.job-asgi-cost"  # tenant default: authentication off
APPS = ("ceiling", "reference", "longhaul")
READ = {
    "ceiling": (f"/v1/jobs/{JOB_ID}", b""),
    "longhaul": (f"/v1/jobs/{JOB_ID}", b""),
    "reference": ("/wait", f"id={JOB_ID}".encode()),
}


async def record_answer() -> str:
    """A dev server's answer to ``promise.get`` for a resolved Longhaul echo job."""
    from resonate.connections.http import HttpConnection
    from resonate.resonate import Resonate
    from resonate.types import Value

    from services.contract import BUILTIN_MODULE, load_catalogue
    from services.devserver.server import serve
    from services.devserver.settings import DevServerSettings
    from services.gateway.jobs.job_store import JobStore
    from services.stack.processes import free_port

    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve(DevServerSettings(port=port), stop))
    answers: dict[str, str] = {}
    send = HttpConnection.send

    async def recording(self: HttpConnection, req: str, headers: Any = None) -> str:
        answer = await send(self, req, headers)
        answers[json.loads(req)["kind"]] = answer
        return answer

    HttpConnection.send = recording  # type: ignore[method-assign]
    resonate = Resonate(url=f"http://127.0.0.1:{port}", sources=[], env={})
    try:
        await _until_listening(port)
        store = JobStore(resonate, timeout_s=5, retry_after_s=1)
        await store.submit(
            JOB_ID,
            load_catalogue([BUILTIN_MODULE]).entry("echo").kind,
            {"message": "hello"},
            timeout_s=None,
            fingerprint="fp",
        )
        await resonate.promises.resolve(JOB_ID, Value(data={"message": "hello", "n": 1}))
        await resonate.promises.get(JOB_ID)
    finally:
        HttpConnection.send = send  # type: ignore[method-assign]
        await resonate.stop()
        stop.set()
        await server
    return answers["promise.get"]


def replay(answer: str) -> None:
    from resonate.connections.http import HttpConnection

    recorded = json.loads(answer)["head"]["corrId"]

    async def replaying(self: HttpConnection, req: str, headers: Any = None) -> str:
        return answer.replace(recorded, json.loads(req)["head"]["corrId"])

    HttpConnection.send = replaying  # type: ignore[method-assign]


def build(name: str) -> Any:
    from services.gateway.settings import GatewaySettings

    # Port 9 (discard): nothing may reach a real server once the send is replayed.
    settings = GatewaySettings(resonate_url="http://127.0.0.1:9", auth_mode="none")
    if name == "ceiling":
        from bench.apps.ceiling import create_app

        return create_app(settings)
    if name == "reference":
        from bench.apps.reference import create_app

        return create_app(settings)
    from services.gateway.app import create_app

    return create_app(settings, metrics_multiproc_dir=settings.prometheus_multiproc_dir)


def reader(app: Any, path: str, query: bytes) -> Callable[[int], Awaitable[bytes]]:
    base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"gateway"), (b"user-agent", b"asgi-cost")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def run(n: int) -> bytes:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        for _ in range(n):
            sent.clear()
            await app(dict(base), receive, send)
        start, body = sent[0], sent[-1]
        if start["status"] != 200:
            raise RuntimeError(f"{path}: status {start['status']}: {body.get('body')!r}")
        return body["body"]

    return run


async def measure(name: str, requests: int, repeats: int) -> dict[str, Any]:
    answer = await record_answer()
    replay(answer)
    app = build(name)
    path, query = READ[name]
    async with app.router.lifespan_context(app):
        run = reader(app, path, query)
        body = await run(max(1000, requests // 10))
        samples = []
        for _ in range(repeats):
            started = time.process_time()
            await run(requests)
            samples.append((time.process_time() - started) / requests * 1e6)
    return {
        "app": name,
        "requests": requests,
        "us_per_read": statistics.median(samples),
        "samples_us": samples,
        "body": json.loads(body),
        "body_text": body.decode(),
    }


async def _until_listening(port: int, limit_s: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.02)
            continue
        writer.close()
        return


def main() -> None:
    from services.common.logging import configure_logging

    name, requests = sys.argv[1], int(sys.argv[2])
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if name not in APPS:
        raise SystemExit(f"app must be one of {', '.join(APPS)}")
    # The gateway's own logging; lines go to stderr, which the caller sends to a file.
    configure_logging("gateway", "INFO", "json")
    result = asyncio.run(measure(name, requests, repeats))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
