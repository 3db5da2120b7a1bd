"""A raw wire client for dev server tests: envelopes over POST / and an SSE reader."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp

VERSION = "2026-04-01"


def envelope(kind: str, protocol: str | None = VERSION, **data: Any) -> dict[str, Any]:
    head: dict[str, Any] = {"corrId": uuid.uuid4().hex}
    if protocol is not None:
        head["version"] = protocol
    return {"kind": kind, "head": head, "data": data}


async def call_raw(
    session: aiohttp.ClientSession, url: str, kind: str, **data: Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, json=envelope(kind, **data)) as response:
        return response.status, await response.json()


async def call(session: aiohttp.ClientSession, url: str, kind: str, **data: Any) -> dict[str, Any]:
    return (await call_raw(session, url, kind, **data))[1]


class Poller:
    """A raw SSE reader, like a worker's source, that records the messages it gets."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self.raw = bytearray()
        self.status: int | None = None
        self.ended = asyncio.Event()
        self._task = asyncio.create_task(self._read(session, url))

    async def _read(self, session: aiohttp.ClientSession, url: str) -> None:
        try:
            async with session.get(url) as response:
                self.status = response.status
                buffer = ""
                async for chunk in response.content.iter_any():
                    self.raw += chunk
                    buffer += chunk.decode()
                    while "\n\n" in buffer:
                        block, buffer = buffer.split("\n\n", 1)
                        for line in block.splitlines():
                            if line.startswith("data:"):
                                self.messages.append(json.loads(line[5:]))
        finally:
            self.ended.set()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def eventually(predicate: Any, timeout: float = 3.0) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def targeted(promise_id: str, target: str = "poll://any@worker") -> dict[str, Any]:
    return {"id": promise_id, "timeoutAt": 2**62, "param": {}, "tags": {"resonate:target": target}}
