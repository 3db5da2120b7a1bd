"""What the demand metrics read inside resonate-sdk 0.8.1 (``sdk/slots.py``, ``sdk/settled.py``).

Pins the private names they use and checks them against the SDK's own code
paths: ``Resonate._bounded_execute`` (the semaphore every ``execute`` message
runs under) and ``Core``'s ``task.fulfill`` of a job's root promise. An SDK
that renames, restructures or stops returning the settled record fails here.
"""

from __future__ import annotations

import asyncio
import inspect
import json

import pytest
from resonate.core import Core
from resonate.error import ResonateError
from resonate.resonate import Resonate, _Runtime
from resonate.send import Sender
from resonate.testing import local_resonate
from resonate.transport import Transport
from resonate.types import PromiseRecord, Value

from services.contract.tags import KIND_TAG
from services.gateway.jobs.job_store import TAG_KIND
from services.worker.metrics import WorkerMetrics
from services.worker.sdk.settled import on_settled
from services.worker.sdk.slots import SlotGauge, SlotUsage

pytestmark = pytest.mark.unit


def test_the_semaphore_every_execution_runs_under() -> None:
    assert isinstance(_Runtime(3).execute_sema, asyncio.Semaphore)
    assert "async with self._runtime.execute_sema" in inspect.getsource(Resonate._bounded_execute)
    # Every execute message goes through it; the execution's first request is the acquire.
    dispatch = inspect.getsource(Resonate._on_message)
    assert "self._bounded_execute(" in dispatch
    assert "self._core.on_message(msg.task_id, msg.version)" in dispatch
    assert "self.sender.task_acquire(task_id" in inspect.getsource(Core.on_message)
    assert "self._transport.recv(self._on_message)" in inspect.getsource(Resonate.start)
    init = inspect.getsource(Resonate.__init__)
    assert "self._transport = transport" in init and "self._sender = sender" in init
    assert "source.recv(on_raw)" in inspect.getsource(Transport.recv)  # one more receiver is fine
    sema = asyncio.Semaphore(2)
    assert sema._value == 2


class Source:
    """An SSE source as the SDK sees one: receivers, and messages pushed to them in order."""

    def __init__(self) -> None:
        self.receivers: list = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def recv(self, callback) -> None:
        self.receivers.append(callback)

    def push(self, task_id: str, version: int) -> None:
        raw = json.dumps({"kind": "execute", "data": {"task": {"id": task_id, "version": version}}})
        for receiver in list(self.receivers):
            receiver(raw)


class Worker:
    """A real SDK client and its real dispatch; the server's acquire answers when a gate opens."""

    def __init__(self, slots: int) -> None:
        self.source = Source()
        self.resonate = Resonate(
            url="http://127.0.0.1:1", max_concurrent_tasks=slots, autostart=False
        )
        self.resonate._transport = Transport(self.resonate._network, [self.source])
        self.resonate._transport.recv(self.resonate._on_message)  # what start() registers
        self.gates: dict[str, asyncio.Event] = {}
        self.acquired: list[str] = []

        async def task_acquire(task_id: str, version: int, pid: str, ttl: int):
            self.acquired.append(task_id)
            await self.gates.setdefault(task_id, asyncio.Event()).wait()
            raise ResonateError("the test's server answers no further")

        self.resonate._sender.task_acquire = task_acquire  # type: ignore[method-assign]
        self.gauge = SlotGauge(self.resonate, slots)

    def deliver(self, task_id: str, version: int = 1) -> None:
        self.source.push(task_id, version)

    def finish(self, task_id: str) -> None:
        self.gates.setdefault(task_id, asyncio.Event()).set()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_slot_gauge_follows_the_sdks_dispatch() -> None:
    worker = Worker(2)
    assert worker.gauge.usage() == SlotUsage(2, 0, 0)
    for task in ("a", "b", "c"):
        worker.deliver(task)
    await settle()
    assert worker.acquired == ["a", "b"]
    assert worker.gauge.usage() == SlotUsage(2, 2, 1)  # two executing, one received and waiting
    worker.finish("a")
    await settle()
    assert worker.acquired == ["a", "b", "c"]
    assert worker.gauge.usage() == SlotUsage(2, 2, 0)  # the waiting one took the freed slot
    worker.finish("b")
    worker.finish("c")
    await settle()
    assert worker.gauge.usage() == SlotUsage(2, 0, 0)


async def test_a_task_offered_again_while_it_waits_is_queued_once() -> None:
    """The server re-offers an unacquired task every retry_timeout: one task, not two."""
    worker = Worker(1)
    worker.deliver("busy")
    worker.deliver("t", 1)
    worker.deliver("t", 1)  # the retry timer's second offer
    await settle()
    assert worker.gauge.usage() == SlotUsage(1, 1, 1)
    worker.finish("busy")
    worker.finish("t")
    await settle()
    # The first copy runs; the second still waits for the slot but is no demand.
    assert worker.gauge.usage().queued == 0
    await settle()
    assert worker.gauge.usage() == SlotUsage(1, 0, 0)


def test_core_settles_a_job_through_the_senders_task_fulfill() -> None:
    source = inspect.getsource(Core.execute_until_blocked_outer)
    assert "await self.sender.task_fulfill(" in source
    assert "PromiseSettleReq(" in source
    assert "return parse_promise(resp)" in inspect.getsource(Sender.task_fulfill)
    assert set(PromiseRecord.__struct_fields__) >= {"state", "tags", "created_at", "settled_at"}
    resonate = Resonate(url="http://127.0.0.1:1", autostart=False)
    assert resonate._core.sender is resonate._sender


async def test_on_settled_sees_the_settled_root_promise() -> None:
    resonate = local_resonate()
    records: list[PromiseRecord] = []
    on_settled(resonate, records.append)

    async def job(ctx, value):
        await ctx.run(step, value)
        return value

    async def step(ctx, value):
        return value

    resonate.register(job, name="job")
    assert await resonate.rpc("j1", "job", 5).result() == 5
    (record,) = records  # the step is settled inside the task, not by a fulfill
    assert record.id == "j1" and record.state == "resolved"
    assert record.settled_at is not None and record.settled_at >= record.created_at > 0
    await resonate.stop()


async def test_an_observer_that_raises_never_fails_the_settle() -> None:
    resonate = local_resonate()

    def broken(_record: PromiseRecord) -> None:
        raise RuntimeError("boom")

    on_settled(resonate, broken)

    async def job(ctx):
        return "done"

    resonate.register(job, name="job")
    assert await resonate.rpc("j2", "job").result() == "done"
    assert (await resonate.promises.get("j2")).state == "resolved"
    await resonate.stop()


def record(state: str, tags: dict[str, str], created: int, settled: int | None) -> PromiseRecord:
    return PromiseRecord(
        id="j", state=state, param=Value(), value=Value(), tags=tags,
        timeout_at=10**13, created_at=created, settled_at=settled,
    )  # fmt: skip


def latency(metrics: WorkerMetrics, kind: str, status: str) -> tuple[float, float]:
    count = metrics.registry.get_sample_value(
        "longhaul_worker_job_latency_seconds_count", {"kind": kind, "status": status}
    )
    total = metrics.registry.get_sample_value(
        "longhaul_worker_job_latency_seconds_sum", {"kind": kind, "status": status}
    )
    return count or 0.0, total or 0.0


def test_job_latency_is_observed_for_jobs_only_by_final_status() -> None:
    assert KIND_TAG == TAG_KIND  # the tag the gateway writes is the one the worker reads
    metrics = WorkerMetrics()
    metrics.declare_kinds(["echo"])
    assert latency(metrics, "echo", "succeeded") == (0, 0)  # declared: exists at 0
    assert latency(metrics, "echo", "failed") == (0, 0)
    metrics.job_settled(record("resolved", {KIND_TAG: "echo"}, 1_000, 3_500))
    metrics.job_settled(record("rejected", {KIND_TAG: "echo"}, 1_000, 2_000))
    # Not a job (a child promise), not a final job state, not settled: nothing.
    metrics.job_settled(record("resolved", {"resonate:origin": "x"}, 1_000, 2_000))
    metrics.job_settled(record("rejected_timedout", {KIND_TAG: "echo"}, 1_000, 2_000))
    metrics.job_settled(record("resolved", {KIND_TAG: "echo"}, 1_000, None))
    assert latency(metrics, "echo", "succeeded") == (1, 2.5)
    assert latency(metrics, "echo", "failed") == (1, 1.0)


def test_slot_gauges_are_read_at_scrape_time() -> None:
    class Fixed:
        def __init__(self) -> None:
            self.now = SlotUsage(4, 1, 0)

        def usage(self) -> SlotUsage:
            return self.now

    metrics, source = WorkerMetrics(), Fixed()
    metrics.watch_slots(source)  # type: ignore[arg-type]
    source.now = SlotUsage(4, 3, 2)
    text = metrics.render().decode()
    assert "longhaul_worker_task_slots 4.0" in text
    assert "longhaul_worker_task_slots_busy 3.0" in text
    assert "longhaul_worker_tasks_queued 2.0" in text
