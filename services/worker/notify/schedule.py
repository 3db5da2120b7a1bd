"""When the next webhook attempt runs: the configured delays, jittered, and Retry-After."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date), None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(
    retry: int,
    delays: Sequence[float],
    *,
    jitter: float,
    retry_after_s: float | None,
    max_retry_after_s: float,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds before retry ``retry`` (1-based), or None when the schedule is used up.

    A Retry-After only lengthens the wait (up to ``max_retry_after_s``): a
    receiver answering ``Retry-After: 0`` cannot burn through the schedule.
    """
    if retry > len(delays):
        return None
    base = delays[retry - 1]
    delay = base * (1 - jitter + 2 * jitter * rand())
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max_retry_after_s))
    return delay
