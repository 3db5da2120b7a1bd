"""Reads, every few seconds, how much memory and CPU each process of the stack uses (a probe)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.chaos.probes.procs import cpu_seconds, rss_bytes
from tests.chaos.targets import LiveProcess


@dataclass(frozen=True)
class Sample:
    at: float
    name: str
    pid: int
    rss_bytes: int
    cpu_s: float


def sample_once(processes: list[LiveProcess], at: float) -> list[Sample]:
    out = []
    for process in processes:
        rss, cpu = rss_bytes(process.pid), cpu_seconds(process.pid)
        if rss is not None and cpu is not None:
            out.append(Sample(at, process.name, process.pid, rss, cpu))
    return out


async def sample_until(
    list_processes: Callable[[], list[LiveProcess]],
    every_s: float,
    stop: asyncio.Event,
    into: list[Sample],
) -> None:
    while not stop.is_set():
        into.extend(sample_once(list_processes(), time.time()))
        try:
            await asyncio.wait_for(stop.wait(), timeout=every_s)
        except TimeoutError:
            continue
