"""RFC 3339 UTC timestamps, formatted cheaply.

A status poll writes three (the job's created_at and completed_at, the log
line's), and datetime's isoformat cost ~2 us each. The date and time of day
change once a second, so that part is formatted once per second and reused.
"""

from __future__ import annotations

import time
from functools import lru_cache


@lru_cache(maxsize=1024)
def _whole_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def iso_from_ms(ms: int) -> str:
    """``datetime.fromtimestamp(ms / 1000, UTC).isoformat()``: 2026-11-24T04:00:20.206000+00:00."""
    seconds, millis = divmod(ms, 1000)
    if millis:
        return f"{_whole_second(seconds)}.{millis:03d}000+00:00"
    return f"{_whole_second(seconds)}+00:00"


def utc_now_iso() -> str:
    """structlog's ``TimeStamper(fmt="iso", utc=True)``: 2026-11-24T04:00:20.206246Z."""
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    if micros:
        return f"{_whole_second(seconds)}.{micros:06d}Z"
    return f"{_whole_second(seconds)}Z"
