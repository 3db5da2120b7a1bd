"""The gateway's availability cache, on a fake clock: reads per bucket, expiry, recheck."""

from __future__ import annotations

import pytest

from services.contract import load_catalogue
from services.contract.adverts import advert_id
from services.gateway.edge.errors import Problem
from services.gateway.jobs.kind_catalogue import GatewayKinds

pytestmark = pytest.mark.unit

B = 60


class FakeStore:
    def __init__(self) -> None:
        self.present: set[str] = set()
        self.reads: list[str] = []

    async def exists(self, promise_id: str) -> bool:
        self.reads.append(promise_id)
        return promise_id in self.present


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


CATALOGUE = load_catalogue(["services.kinds.builtin"])
ECHO = CATALOGUE.entry("echo")


def kinds(store: FakeStore, clock: Clock) -> GatewayKinds:
    return GatewayKinds(
        CATALOGUE, store, require_workers=True, retry_after_s=1, recheck_s=2.0, clock=clock
    )  # type: ignore[arg-type]


async def test_a_positive_answer_costs_one_read_per_bucket() -> None:
    store, clock = FakeStore(), Clock(6000.0)
    store.present = {advert_id(ECHO, 100), advert_id(ECHO, 101)}
    gateway = kinds(store, clock)
    for t in range(6000, 6120, 5):
        clock.now = t
        assert await gateway.available(ECHO.kind)
    assert store.reads == [advert_id(ECHO, 100), advert_id(ECHO, 101)]


async def test_a_kind_no_longer_advertised_is_refused_when_its_bucket_ends() -> None:
    store, clock = FakeStore(), Clock(6059.0)
    store.present = {advert_id(ECHO, 100)}  # the last worker's last tick wrote up to 100
    gateway = kinds(store, clock)
    assert await gateway.available(ECHO.kind)
    clock.now = 6060.0  # bucket 101: the cached yes is not reused
    assert not await gateway.available(ECHO.kind)
    with pytest.raises(Problem, match="has advertised it lately") as refused:
        await gateway.require_worker(ECHO.kind)
    assert refused.value.status == 503


async def test_a_negative_answer_is_rechecked_after_recheck_s() -> None:
    store, clock = FakeStore(), Clock(6000.0)
    gateway = kinds(store, clock)
    for _ in range(100):
        assert not await gateway.available(ECHO.kind)
    assert len(store.reads) == 1  # a storm of submits of a missing kind: one read
    store.present = {advert_id(ECHO, 100)}  # a worker comes up
    clock.now = 6001.9
    assert not await gateway.available(ECHO.kind)
    clock.now = 6002.0
    assert await gateway.available(ECHO.kind)
    assert len(store.reads) == 2


async def test_a_clock_stepped_back_does_not_freeze_a_negative_answer() -> None:
    store, clock = FakeStore(), Clock(6000.0)
    gateway = kinds(store, clock)
    assert not await gateway.available(ECHO.kind)
    store.present = {advert_id(ECHO, 98)}
    clock.now = 5900.0
    assert await gateway.available(ECHO.kind)
