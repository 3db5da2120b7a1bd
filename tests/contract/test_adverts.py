"""Kind adverts in time buckets: which buckets a tick writes, when they expire, the loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from resonate.testing import local_resonate

from services.contract import load_catalogue
from services.contract.adverts import (
    ADVERT_PREFIX,
    advert_id,
    advert_timeout_ms,
    advertise,
    bucket_of,
    buckets_to_advertise,
    keep_advertising,
)

pytestmark = pytest.mark.unit

B, S = 60, 15


def test_buckets_are_floor_of_wall_time() -> None:
    assert [bucket_of(t, B) for t in (0, 59.999, 60, 119, -0.5)] == [0, 0, 1, 1, -1]


def test_a_tick_writes_the_current_and_next_bucket_and_a_neighbour_near_an_edge() -> None:
    assert list(buckets_to_advertise(6030, B, S)) == [100, 101]
    assert list(buckets_to_advertise(6005, B, S)) == [99, 100, 101]  # a gateway behind
    assert list(buckets_to_advertise(6050, B, S)) == [100, 101, 102]  # a gateway ahead


@pytest.mark.parametrize("tick", [6000.0, 6005.0, 6030.0, 6059.9, 6123.4])
@pytest.mark.parametrize("offset", [-S, -7.0, 0.0, 7.0, S - 0.001])
def test_until_the_next_tick_every_gateway_within_the_skew_finds_its_bucket(
    tick: float, offset: float
) -> None:
    written = set(buckets_to_advertise(tick, B, S))
    for step in range(0, B * 10 + 1):  # true time from this tick to the next, one bucket later
        gateway_clock = tick + step / 10 + offset
        assert bucket_of(gateway_clock, B) in written, (tick, offset, step)


def test_an_advert_times_out_after_its_bucket_ends_plus_the_skew() -> None:
    assert advert_timeout_ms(100, B, S) == (101 * 60 + 15) * 1000
    # Every advert a tick writes is still pending when written.
    for now in (6000.0, 6001.0, 6059.0, 6075.0):
        for bucket in buckets_to_advertise(now, B, S):
            assert advert_timeout_ms(bucket, B, S) > now * 1000


def test_ids_name_kind_version_definition_and_bucket_under_one_prefix() -> None:
    entry = load_catalogue(["services.kinds.builtin"]).entry("echo")
    ident = advert_id(entry, 12345)
    assert ident.startswith(f"{ADVERT_PREFIX}echo.v{entry.kind.version}.{entry.fingerprint}.")
    assert ident.endswith(".b12345")
    assert advert_id(entry, 12345) != advert_id(entry, 12346)


async def test_advertise_creates_promises_that_expire_at_their_bucket_end() -> None:
    resonate = local_resonate()  # settles promises by timeout on the real clock
    catalogue = load_catalogue(["services.kinds.builtin"])
    now_ms = int(time.time() * 1000)
    ids = await advertise(resonate.promises, catalogue, "w-1", now_ms)
    versions = sum(len(e.kind.versions()) for e in catalogue.entries())
    assert len(ids) in (2 * versions, 3 * versions) and len(set(ids)) == len(ids)
    current = advert_id(catalogue.entry("echo"), bucket_of(now_ms / 1000))
    record = await resonate.promises.get(current)
    assert record.state == "pending"
    assert record.timeout_at == advert_timeout_ms(bucket_of(now_ms / 1000))
    assert record.tags == {"longhaul:advert": "1"}
    # A second worker writes the same ids: no new promises, the first data kept.
    again = await advertise(resonate.promises, catalogue, "w-2", now_ms + 10)
    assert again == ids
    record = await resonate.promises.get(ids[0])
    assert record.param.data["pid"] == "w-1"
    # A tick of long ago: its adverts are settled by the server's timeout, nobody withdraws them.
    old = await advertise(resonate.promises, catalogue, "w-1", 6_030_000, bucket_s=B, skew_s=S)
    assert (await resonate.promises.get(old[0])).state == "rejected_timedout"


class FakeTime:
    def __init__(self, start: float, until: float) -> None:
        self.now, self.until = start, until
        self.sleeps: list[float] = []
        self.over = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.now >= self.until:
            self.over.set()
        await asyncio.sleep(0)


class FlakyPromises:
    """Records creates; the first ``fail`` calls raise, like a server that is down."""

    def __init__(self, time: FakeTime, fail: int = 0) -> None:
        self.time, self.fail = time, fail
        self.created: list[tuple[float, str]] = []

    async def create(self, ident: str, timeout_ms: int, *_args: Any) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("server down")
        self.time.now += 0.2  # a create takes time: the schedule must not drift
        self.created.append((self.time.now, ident))


async def run_ticks(promises: Any, fake: FakeTime) -> None:
    catalogue = load_catalogue(["services.kinds.builtin"])
    task = asyncio.create_task(
        keep_advertising(
            promises, catalogue, "w", bucket_s=B, skew_s=S, clock=fake.clock, sleep=fake.sleep
        )
    )
    await fake.over.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_loop_ticks_once_per_bucket_without_drift() -> None:
    fake = FakeTime(6030.0, until=6030.0 + 24 * 3600)  # a day
    promises = FlakyPromises(fake)
    await run_ticks(promises, fake)
    ticks = sorted({int(ident.rsplit(".b", 1)[1]) for _, ident in promises.created})
    # Every bucket of the day was written, and a tick's sleep keeps the schedule.
    assert ticks == list(range(100, ticks[-1] + 1)) and ticks[-1] >= 100 + 24 * 60
    versions = len(load_catalogue(["services.kinds.builtin"]).names)  # one version each
    per_bucket = len(promises.created) / (24 * 60)
    assert per_bucket <= 3 * versions
    assert all(abs(s - (B - 0.2 * 2 * versions)) < 1e-6 for s in fake.sleeps[:3])


async def test_a_failed_tick_is_logged_and_retried_with_backoff_never_fatal() -> None:
    fake = FakeTime(6030.0, until=6030.0 + 200)
    promises = FlakyPromises(fake, fail=6)
    await run_ticks(promises, fake)
    assert fake.sleeps[:6] == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]  # capped at a quarter bucket
    assert promises.created, "the loop kept going after the failures"
