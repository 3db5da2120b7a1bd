"""The cheap timestamp formatter writes what datetime and structlog write."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest
import structlog

from services.common.timefmt import iso_from_ms, utc_now_iso

pytestmark = pytest.mark.unit


def test_iso_from_ms_equals_datetime_isoformat() -> None:
    rng = random.Random(7)
    samples = [0, 1, 999, 1000, 1_795_492_925_000, 1_795_492_925_971, 4_102_444_800_001]
    samples += [rng.randrange(0, 4_102_444_800_000) for _ in range(20_000)]
    for ms in samples:
        assert iso_from_ms(ms) == datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(), ms


def test_utc_now_iso_has_structlogs_shape_and_the_current_time() -> None:
    ours = utc_now_iso()
    theirs = structlog.processors.TimeStamper(fmt="iso", utc=True)(None, "info", {})["timestamp"]
    shape = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
    assert shape.match(ours) and shape.match(theirs)
    parsed = datetime.fromisoformat(ours)
    assert abs((parsed - datetime.fromisoformat(theirs)).total_seconds()) < 1
