"""Workers advertise the kinds they run, so a gateway can refuse kinds no worker has.

An advert says "a worker running this definition was alive lately". Wall-clock
time is cut into buckets of ``BUCKET_S`` seconds (bucket ``k`` covers
``[k*B, (k+1)*B)``). A live worker creates, about once per bucket, the advert
of the current and of the next bucket for every version of every kind it
registers::

    longhaul-advert.<name>.v<version>.<fingerprint>.b<bucket>

(the fingerprint hashes function name, version and input schema). Each advert
is a promise whose timeout is its bucket's end plus ``SKEW_S``: nothing ever
settles it, the server times it out (``rejected_timedout``) and a retention
sweep may delete any settled ``longhaul-advert.`` promise. A gateway reads only
the advert of the bucket its own clock is in: present (in any state) means a
worker advertised that definition for this bucket.

Bounds (B = ``BUCKET_S``, s = ``SKEW_S``, clocks within s of each other):

- a kind whose last worker stopped is refused again at most ``2B + 2s`` later
  (the last tick wrote adverts up to the bucket after ``now + s``);
- a worker that just started is seen as soon as a gateway's negative answer
  expires (``services/gateway/jobs/kind_catalogue.py``);
- cost: per worker per bucket one tick of 2 creates (3 when ``now ± s``
  straddles a bucket edge) per kind version; the creates are idempotent, so any
  number of workers keep at most 3 pending adverts per definition on the server.

B and s are constants of the contract, not settings: a gateway and a worker
that disagreed on B would look up ids nobody writes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from resonate.promises import Promises
from resonate.types import Value

from services.contract.catalogue import Catalogue, CatalogueEntry, definition_fingerprint

log = structlog.get_logger("longhaul.adverts")

#: Every advert id starts with this (retention sweeps select adverts by it).
ADVERT_PREFIX = "longhaul-advert."
#: Seconds per bucket.
BUCKET_S = 60
#: Clock disagreement tolerated between any two processes, in seconds.
SKEW_S = 15
#: After a failed tick, the next try waits this long, doubling up to ``BUCKET_S / 4``.
RETRY_FIRST_S = 1.0

#: The tag every advert carries.
ADVERT_TAGS = {"longhaul:advert": "1"}


def bucket_of(now_s: float, bucket_s: float = BUCKET_S) -> int:
    return math.floor(now_s / bucket_s)


def bucket_end_s(bucket: int, bucket_s: float = BUCKET_S) -> float:
    return (bucket + 1) * bucket_s


def buckets_to_advertise(now_s: float, bucket_s: float = BUCKET_S, skew_s: float = SKEW_S) -> range:
    """The buckets a tick at ``now_s`` writes so that, until the next tick one
    bucket later, every gateway whose clock is within ``skew_s`` finds its bucket's advert."""
    return range(bucket_of(now_s - skew_s, bucket_s), bucket_of(now_s + skew_s, bucket_s) + 2)


def advert_id(entry: CatalogueEntry, bucket: int, version: int | None = None) -> str:
    """The advert of ``version`` of a kind (default: the version new jobs get) for ``bucket``."""
    kind = entry.kind
    version = kind.version if version is None else version
    fingerprint = definition_fingerprint(kind, version)
    return f"{ADVERT_PREFIX}{kind.name}.v{version}.{fingerprint}.b{bucket}"


def advert_timeout_ms(bucket: int, bucket_s: float = BUCKET_S, skew_s: float = SKEW_S) -> int:
    """When the server times the advert out: the same for every worker that writes it."""
    return int((bucket_end_s(bucket, bucket_s) + skew_s) * 1000)


async def advertise(
    promises: Promises,
    catalogue: Catalogue,
    pid: str,
    now_ms: int,
    *,
    bucket_s: float = BUCKET_S,
    skew_s: float = SKEW_S,
) -> list[str]:
    """One tick: create the adverts of every version of every kind for the buckets
    around ``now_ms``; return the ids.

    Previous versions are advertised too: during a rollout, a gateway that still
    has the old definition sends jobs of the old version, which new workers run
    with the old function they keep for it.
    """
    ids = []
    for bucket in buckets_to_advertise(now_ms / 1000, bucket_s, skew_s):
        timeout = advert_timeout_ms(bucket, bucket_s, skew_s)
        for entry in catalogue.entries():
            for version in entry.kind.versions():
                data: dict[str, Any] = {
                    "kind": entry.kind.name,
                    "module": entry.module,
                    "function": entry.kind.function_name,
                    "version": version,
                    "bucket": bucket,
                    "pid": pid,  # of the first worker to write it: creates keep the first data
                }
                advert = advert_id(entry, bucket, version)
                await promises.create(advert, timeout, Value(data=data), dict(ADVERT_TAGS))
                ids.append(advert)
    return ids


async def keep_advertising(
    promises: Promises,
    catalogue: Catalogue,
    pid: str,
    *,
    bucket_s: float = BUCKET_S,
    skew_s: float = SKEW_S,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Advertise once per bucket for the life of the worker (cancel to stop).

    A failed or hung tick (server down: the SDK retries a request forever) is
    logged and tried again after a short backoff; it never ends the loop.
    """
    retry_s = RETRY_FIRST_S
    while True:
        started = clock()
        try:
            async with asyncio.timeout(bucket_s / 4):
                await advertise(
                    promises, catalogue, pid, int(started * 1000), bucket_s=bucket_s, skew_s=skew_s
                )
        except Exception as exc:  # whatever went wrong, a lost tick must not end the loop
            log.warning(
                "kind advert failed; retrying",
                error=f"{type(exc).__name__}: {exc}",
                retry_in_s=retry_s,
            )
            await sleep(retry_s)
            retry_s = min(retry_s * 2, bucket_s / 4)
            continue
        retry_s = RETRY_FIRST_S
        # A bucket after this tick started (not after it ended), so ticks do not drift late.
        await sleep(max(0.0, started + bucket_s - clock()))
