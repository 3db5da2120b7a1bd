"""A gateway on the dev server app, in process: its push stream, listeners and requests counted.

The dev server is the real server's wire behaviour (``tests/devserver``): the
gateway opens its SSE stream to it and registers listeners there, and the dev
server's own ``resonate_request_total`` counts what each long-poll cost it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from aiohttp.test_utils import TestServer
from fastapi import FastAPI
from resonate.types import Value

from services.devserver.server import DevServer
from services.devserver.settings import DevServerSettings
from services.gateway.app import create_app
from services.gateway.waiting.long_polls import JobWaits
from services.gateway.waiting.push_stream import connect_push
from tests.devserver.wire_client import eventually
from tests.support import gateway_settings, running


@dataclass
class PushedGateway:
    app: FastAPI
    client: httpx.AsyncClient
    dev: DevServer
    server: TestServer

    @property
    def waits(self) -> JobWaits:
        return self.app.state.waits

    def requests(self, kind: str | None = None) -> float:
        return self.dev.metrics.request_count(kind)

    async def submit(self, kind: str = "sleep", input: dict[str, Any] | None = None) -> str:
        response = await self.client.post(
            "/v1/jobs", json={"kind": kind, "input": input or {"seconds": 600}}
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    async def resolve(self, job_id: str, result: Any) -> None:
        await self.app.state.resonate.promises.resolve(job_id, Value(data=result))

    async def close_streams(self) -> int:
        """The dev server ends the gateway's stream from its side (its test route)."""
        async with aiohttp.ClientSession() as session:
            url = str(self.server.make_url("/test/close-streams"))
            async with session.post(url, params={"group": "gateway"}) as response:
                return (await response.json())["closed"]

    async def stream_up(self) -> None:
        await eventually(lambda: self.waits.stream is not None and self.waits.stream.is_connected)

    def gauge(self, name: str, **labels: str) -> float:
        return self.app.state.metrics.registry.get_sample_value(name, labels) or 0.0


@contextlib.asynccontextmanager
async def pushed_gateway(
    *, push_url: str | None = None, dev_settings: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[PushedGateway]:
    """``push_url``: where the push stream connects instead (a dead port: it stays down)."""
    dev = DevServer(
        DevServerSettings(tick_interval_s=0.05, test_routes=True, **(dev_settings or {}))
    )
    server = TestServer(dev.app())
    await server.start_server()
    try:
        values: dict[str, Any] = {
            "resonate_url": str(server.make_url("/")).rstrip("/"),
            "require_workers": False,
            "wait_push_reconnect_max_s": 0.1,
        }
        values.update(overrides)
        settings = gateway_settings(**values)
        push_factory = None
        if push_url is not None:

            def push_factory(s: Any, status: Any, token: Any) -> Any:
                return connect_push(s.model_copy(update={"resonate_url": push_url}), status, token)

        app = create_app(settings, push_factory=push_factory)
        async with running(app, advertised=False) as client:
            gateway = PushedGateway(app, client, dev, server)
            if settings.wait_push and push_url is None:
                await gateway.stream_up()
            yield gateway
    finally:
        await server.close()
