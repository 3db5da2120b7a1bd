"""What gateway and worker agree on besides the kinds: the group and request fingerprints.

The kinds themselves come from ``LONGHAUL_JOB_MODULES`` (``catalogue.py``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: The Resonate group every worker joins and every job is routed to.
GROUP = "worker"


def fingerprint(kind: str, input: Any, timeout_s: float | None) -> str:
    """A stable digest of what a client asked for, to detect Idempotency-Key reuse."""
    canonical = json.dumps(
        {"kind": kind, "input": input, "timeout_s": timeout_s},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
