"""A webhook receiver on 127.0.0.1 for tests: verifies every delivery with ``standardwebhooks``.

Its answers are scripted (``answers``: statuses returned in order, then 200);
``stop()`` and ``start()`` on the same port make it "down for a while".
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

#: A fixed test secret (24 random bytes, base64).
TEST_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    verified: bool
    event: Any
    path: str
    #: The status this receiver answered with.
    answered: int = 0


@dataclass
class Receiver:
    secret: str = TEST_SECRET
    answers: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    port: int = 0
    delay_s: float = 0.0
    #: (delivery, all so far) -> answer 503 instead (the chaos sink fails some first attempts).
    refuse_first: Any = None
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        try:
            event = Webhook(self.secret).verify(body, headers)
            verified = True
        except Exception:
            event, verified = json.loads(body or b"null"), False
        delivery = Delivery(headers, body, verified, event, request.path)
        self.deliveries.append(delivery)
        self._arrived.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.refuse_first is not None and self.refuse_first(delivery, self.deliveries):
            answer: int | tuple[int, dict[str, str]] = 503
        else:
            answer = self.answers.pop(0) if self.answers else 200
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        delivery.answered = status
        return web.Response(status=status, headers=extra, text="ok")

    def for_job(self, job_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.headers.get("webhook-id") == f"msg_{job_id}"]

    async def wait_for(self, count: int, timeout_s: float = 10) -> list[Delivery]:
        async with asyncio.timeout(timeout_s):
            while len(self.deliveries) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.deliveries


class ThreadedReceiver:
    """A ``Receiver`` on its own event loop in a thread, for synchronous tests."""

    def __init__(self, **kwargs: Any) -> None:
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.receiver = Receiver(**kwargs)
        self._call(self.receiver.start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    @property
    def url(self) -> str:
        return self.receiver.url

    @property
    def deliveries(self) -> list[Delivery]:
        return list(self.receiver.deliveries)

    def for_job(self, job_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.headers.get("webhook-id") == f"msg_{job_id}"]

    def answer(self, *answers: int | tuple[int, dict[str, str]]) -> None:
        self._loop.call_soon_threadsafe(self.receiver.answers.extend, answers)

    def stop(self) -> None:
        self._call(self.receiver.stop())

    def start(self) -> None:
        self._call(self.receiver.start())

    def close(self) -> None:
        self._call(self.receiver.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
