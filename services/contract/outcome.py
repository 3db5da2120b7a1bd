"""How a job's outcome is stored in its promise, written by workers and read by gateways.

A failed job's promise is rejected with the SDK's error shape, whose
``message`` is the only field the SDK stores besides a pickle (which the
worker suppresses and the gateway never loads). Longhaul puts a JSON document
there: ``{"longhaul": 1, "type", "message", "attempts", "traceback"?}``.

A succeeded job's value is its result, unchanged, when it succeeded at its
first attempt (nearly always); after retries it is the envelope
``{"longhaul": {"attempts": n}, "result": ...}`` so the job view can show them.
"""

from __future__ import annotations

import json
from typing import Any

_MARK = '{"longhaul":1,'
ENVELOPE_KEY = "longhaul"


def failure_message(
    error_type: str, message: str, attempts: int, traceback: str | None = None
) -> str:
    body: dict[str, Any] = {"longhaul": 1, "type": error_type, "message": message}
    body["attempts"] = attempts
    if traceback is not None:
        body["traceback"] = traceback
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def read_failure(message: str) -> tuple[dict[str, Any], int | None] | None:
    """``(error, attempts)`` from a message a worker wrote, or None for any other message."""
    if not message.startswith(_MARK):
        return None
    try:
        body = json.loads(message)
    except ValueError:
        return None
    error = {"type": str(body.get("type", "Error")), "message": str(body.get("message", ""))}
    if isinstance(body.get("traceback"), str):
        error["traceback"] = body["traceback"]
    attempts = body.get("attempts")
    return error, attempts if isinstance(attempts, int) else None


def wrap_result(result: Any, attempts: int) -> Any:
    if attempts <= 1:
        return result
    return {ENVELOPE_KEY: {"attempts": attempts}, "result": result}


def unwrap_result(value: Any) -> tuple[Any, int]:
    if (
        isinstance(value, dict)
        and len(value) == 2
        and isinstance(value.get(ENVELOPE_KEY), dict)
        and "result" in value
    ):
        attempts = value[ENVELOPE_KEY].get("attempts")
        return value["result"], attempts if isinstance(attempts, int) else 1
    return value, 1
