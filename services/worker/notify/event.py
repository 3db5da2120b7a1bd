"""The body of a completion webhook, the same bytes on every attempt.

``{"type": "job.<status>", "timestamp": <completed_at>, "data": <the job view>}``
where the view is what ``GET /v1/jobs/{id}`` answers (without
``notification``). An event over the size bound leaves out the result (and a
failure's traceback), says so with ``"result_omitted": true``, and keeps
``links.self``: the receiver GETs the job for the rest.
"""

from __future__ import annotations

import json
from typing import Any

from resonate.types import PromiseRecord

from services.contract.job_view import TAG_KIND, job_view
from services.contract.notify import EVENT_TYPES


def event_of(record: PromiseRecord) -> dict[str, Any]:
    """The event of a settled job's promise (``record`` decoded by the SDK's codec)."""
    view = job_view(
        record.id,
        record.tags.get(TAG_KIND, ""),
        record.state,
        record.value.data,
        record.created_at,
        record.settled_at,
    )
    return {
        "type": EVENT_TYPES[view["status"]],
        "timestamp": view.get("completed_at", view["created_at"]),
        "data": view,
    }


def encode_event(event: dict[str, Any], max_bytes: int) -> bytes:
    body = _encode(event)
    if len(body) <= max_bytes:
        return body
    data = dict(event["data"])
    data.pop("result", None)
    if isinstance(data.get("error"), dict):
        error = dict(data["error"])
        error.pop("traceback", None)
        error["message"] = str(error.get("message", ""))[:1000]
        data["error"] = error
    data["result_omitted"] = True
    return _encode({**event, "data": data})


def _encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
