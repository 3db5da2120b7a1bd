"""The fingerprint of a submit, canonical: requests that mean the same have one digest.

The Idempotency-Key check compares it with the one stored on the job, so two
spellings of one request must not differ:

- numbers are JSON numbers, not Python types: ``1`` and ``1.0`` (and ``-0.0``
  and ``0``) are one number; an integral float becomes the exact integer;
- an omitted ``timeout_s`` and the default one are the same deadline: the
  default is fingerprinted as "omitted", so a replay that omits it still
  matches if the default is changed later.

Jobs created before this canonical form have the digest of
``services.contract.fingerprint`` (the value as given); ``matches`` accepts
it too, so a client retrying across the upgrade is not refused.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from services.contract import fingerprint as legacy_fingerprint


def request_fingerprint(
    kind: str,
    input: Any,
    timeout_s: float | None,
    default_timeout_s: float,
    notify_url: str | None = None,
) -> str:
    timeout = None if timeout_s is None or timeout_s == default_timeout_s else timeout_s
    document = {"input": _canonical(input), "kind": kind, "timeout_s": _canonical(timeout)}
    if notify_url is not None:
        # Only when given: a job without notify keeps the digest it always had.
        document["notify"] = notify_url
    return hashlib.sha256(msgspec.json.encode(document)).hexdigest()


def matches(
    stored: str | None,
    digest: str,
    *,
    kind: str,
    input: Any,
    timeout_s: float | None,
) -> bool:
    """Whether the stored fingerprint is this request's, canonical or in the older form."""
    return stored == digest or stored == legacy_fingerprint(kind, input, timeout_s)


def _canonical(value: Any) -> Any:
    # Keys sorted here, not by the encoder: msgspec keeps insertion order.
    if isinstance(value, dict):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
