"""The SDK's reference state machine, behind the dev server's wire front.

This is the only dev server module that touches SDK internals
(``resonate.connections.local``), pinned to the exact SDK version: a different
SDK fails the dev server's boot (and a unit test) rather than misbehaving.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import msgspec
from resonate.connections import local
from resonate.error import ServerError

SDK_VERSION = "0.8.1"
if version("resonate-sdk") != SDK_VERSION:  # pragma: no cover - guarded by the lock file
    raise RuntimeError(f"the dev server is written for resonate-sdk {SDK_VERSION}")

PROTOCOL_VERSION = local.PROTOCOL_VERSION
#: How often a pending task with no taker is offered again (the server's 30 s).
PENDING_RETRY_MS = local.PENDING_RETRY_TTL


@dataclass(frozen=True)
class Outgoing:
    address: str
    payload: str  # the JSON of an ``execute`` or ``unblock`` message
    task_id: str | None  # set for ``execute`` messages
    version: int | None = None  # the task version an ``execute`` offers


class ReferenceState:
    """Apply wire envelopes and clock ticks; hand back what must be pushed where."""

    def __init__(self) -> None:
        self._state = local.ServerState()

    def apply(self, envelope: Any, now_ms: int) -> tuple[dict[str, Any], list[Outgoing]]:
        """One request envelope in, one response envelope and the messages it caused out."""
        flat = local.unwrap_request_envelope(envelope)
        try:
            response = self._state.apply(now_ms, flat)
        except ServerError as exc:
            response = {
                "kind": flat.get("kind") if isinstance(flat, dict) else None,
                "corrId": flat.get("corrId") if isinstance(flat, dict) else None,
                "status": exc.code,
                "error": exc.message,
            }
        return local.wrap_response_envelope(response), self._drain()

    def tick(self, now_ms: int) -> list[Outgoing]:
        """Expire promises and leases, retry undelivered tasks."""
        self._state.outgoing.clear()
        self._state.tick(now_ms)
        return self._drain()

    def unclaimed(self, task_id: str, version: int) -> bool:
        """The task is still waiting for a worker to acquire the version it was offered at."""
        task = self._state.tasks.get(task_id)
        return task is not None and task.state == "pending" and task.version == version

    def counts(self) -> dict[str, int]:
        return {"promises": len(self._state.promises), "tasks": len(self._state.tasks)}

    def _drain(self) -> list[Outgoing]:
        out = [
            Outgoing(
                address=msg.address,
                payload=msgspec.json.encode(msg.message).decode(),
                task_id=local._execute_task_id(msg.message),
                version=_execute_version(msg.message),
            )
            for msg in self._state.outgoing
        ]
        self._state.outgoing = []
        return out


def error_envelope(kind: Any, corr_id: Any, status: int, message: str) -> dict[str, Any]:
    return local.wrap_response_envelope(
        {"kind": kind, "corrId": corr_id, "status": status, "error": message}
    )


def _execute_version(message: Any) -> int | None:
    task = message.get("data", {}).get("task") if isinstance(message, dict) else None
    version = task.get("version") if isinstance(task, dict) else None
    return version if isinstance(version, int) else None
