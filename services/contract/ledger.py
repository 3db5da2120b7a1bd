"""Execution ledger: every execution of a recorded step, stored as a promise.

It lives on the Resonate server itself, so writers in any process or pod and a
reader anywhere (the chaos checker) share it with no extra infrastructure, on
the dev server and on a real server with Postgres alike. Entry ``n`` of a step
is the promise ``ledger.<job>.<step>.<n>``; a writer claims the first ``n``
whose create returns its own attempt id (create is idempotent on the id, so
two writers can never both claim the same ``n``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from resonate.error import ServerError
from resonate.promises import Promises
from resonate.types import Value

#: Ledger promises outlive any job that could be checked against them.
LEDGER_TTL_MS = 7 * 24 * 3600 * 1000
MAX_ENTRIES = 1000


def entry_id(job_id: str, step: str, n: int) -> str:
    return f"ledger.{job_id}.{step}.{n}"


@dataclass(frozen=True)
class LedgerEntry:
    job_id: str
    step: str
    n: int
    attempt: str
    pid: str
    at_ms: int


class PromiseLedger:
    def __init__(self, promises: Promises, pid: str) -> None:
        self._promises = promises
        self._pid = pid

    async def record(self, job_id: str, step: str, now_ms: int) -> int:
        """Append one execution of ``step`` for ``job_id``; return its 1-based number."""
        attempt = uuid.uuid4().hex
        data: dict[str, Any] = {"attempt": attempt, "pid": self._pid, "at_ms": now_ms}
        for n in range(1, MAX_ENTRIES + 1):
            record = await self._promises.create(
                entry_id(job_id, step, n),
                now_ms + LEDGER_TTL_MS,
                Value(data=data),
                {"longhaul:ledger": job_id},
            )
            if isinstance(record.param.data, dict) and record.param.data.get("attempt") == attempt:
                return n
        raise RuntimeError(f"ledger for {job_id}/{step} is full")

    async def read(self, job_id: str, step: str) -> list[LedgerEntry]:
        entries: list[LedgerEntry] = []
        for n in range(1, MAX_ENTRIES + 1):
            try:
                record = await self._promises.get(entry_id(job_id, step, n))
            except ServerError as exc:
                if exc.code == 404:
                    break
                raise
            data = record.param.data if isinstance(record.param.data, dict) else {}
            entries.append(
                LedgerEntry(
                    job_id=job_id,
                    step=step,
                    n=n,
                    attempt=str(data.get("attempt", "")),
                    pid=str(data.get("pid", "")),
                    at_ms=int(data.get("at_ms", 0)),
                )
            )
        return entries
