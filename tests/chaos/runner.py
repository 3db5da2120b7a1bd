"""One chaos run: load and faults together, then resubmissions, the ledger and the checker."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
import structlog

from tests.chaos.actions.schedule import build_plan, run_faults
from tests.chaos.checker import check
from tests.chaos.driver import Deadline, LoadDriver
from tests.chaos.model import STEPS, FaultRecord, JobRecord, RunRecord
from tests.chaos.probes.ledger import read_executions
from tests.chaos.probes.longpoll import LongPoll, LongPollProbe
from tests.chaos.settings import ChaosSettings
from tests.chaos.targets import Target
from tests.chaos.webhook_sink import WebhookSink
from tests.chaos.workload import make_workload

log = structlog.get_logger("longhaul.chaos")


def _window_end(
    start: float, settings: ChaosSettings, faults: list[FaultRecord], jobs: list[JobRecord]
) -> float:
    """The fault window closes when the last fault has healed and the last 202 arrived."""
    return max(
        start + settings.duration,
        *(f.recovered_at or f.at for f in faults),
        *(j.acked_at for j in jobs if j.acked_at is not None),
    )


async def _drive(
    settings: ChaosSettings,
    target: Target,
    jobs: list[JobRecord],
    plan: list[tuple[float, str]],
    rng: random.Random,
    transport: httpx.AsyncBaseTransport | None,
) -> tuple[float, list[FaultRecord], float, float, float, list[LongPoll]]:
    """Run load and faults; return (start, faults, window end, lease bound, deadline, polls)."""
    driver = LoadDriver(
        target.gateway_url,
        concurrency=settings.concurrency,
        submit_budget_s=settings.submit_budget,
        poll_wait_s=settings.poll_wait,
        rng=rng,
        transport=transport,
    )
    start = time.time()
    deadline = Deadline(hard=start + settings.max_run)
    pace_s = settings.duration * settings.submit_share / len(jobs)
    load = asyncio.create_task(driver.run(jobs, pace_s, deadline))
    probe_stop = asyncio.Event()
    probe = LongPollProbe(
        target.gateway_url,
        jobs,
        clients=settings.long_poll_clients,
        max_wait_s=settings.long_poll_wait,
        rng=random.Random(rng.getrandbits(32)),
        transport=transport,
    )
    probing = asyncio.create_task(probe.run(probe_stop))
    try:
        faults = await run_faults(target.injector, plan, start)
        submitted = asyncio.create_task(driver.all_submitted.wait())
        await asyncio.wait({load, submitted}, return_when=asyncio.FIRST_COMPLETED)
        submitted.cancel()
        window_end = _window_end(start, settings, faults, jobs)
        lease_bound = (
            window_end + 2 * settings.ttl + len(STEPS) * settings.max_step_delay + settings.grace
        )
        fixed = deadline.fix(lease_bound + settings.dispatch_retry)
        log.info(
            "fault window closed",
            window_s=round(window_end - start, 2),
            lease_bound_s=round(lease_bound - start, 2),
            deadline_s=round(fixed - start, 2),
        )
        await load
        probe_stop.set()
        await probing
        succeeded = [j for j in jobs if j.status == "succeeded"]
        await driver.resubmit(rng.sample(succeeded, min(settings.resubmit_sample, len(succeeded))))
    finally:
        probe_stop.set()
        for task in (load, probing):
            if not task.done():
                task.cancel()
        await asyncio.gather(load, probing, return_exceptions=True)
        await driver.aclose()
    return start, faults, window_end, min(lease_bound, fixed), fixed, probe.polls


async def run_chaos(
    settings: ChaosSettings,
    target: Target,
    *,
    jobs: list[JobRecord] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[dict[str, Any], RunRecord]:
    """Drive ``target`` through the faults of ``settings``; return (report, raw record).

    ``jobs`` and ``transport`` let a test hand in a tampered workload or a
    gateway that lies, to show the checker catching it.
    """
    seed = settings.seed if settings.seed is not None else random.SystemRandom().getrandbits(32)
    rng = random.Random(seed)
    run_id = f"{int(time.time())}-{rng.getrandbits(32):08x}"
    if jobs is None:
        jobs = make_workload(
            settings.jobs, rng, run_id, settings.max_step_delay, settings.max_values
        )
    counts = {kind: n for kind, n in settings.fault_counts().items() if n}
    unsupported = sorted(set(counts) - target.injector.kinds)
    if unsupported:
        raise ValueError(f"target {target.name} cannot inject {unsupported}")
    plan = build_plan(counts, settings.fault_window or settings.duration, rng)
    log.info("chaos run", target=target.name, jobs=len(jobs), faults=counts, seed=seed)
    sink = await WebhookSink().start(jobs) if settings.webhooks else None

    start, faults, window_end, lease_deadline, deadline, polls = await _drive(
        settings, target, jobs, plan, rng, transport
    )

    own = {j.job_id for j in jobs if j.job_id}
    answered = set().union(*(j.answered_ids for j in jobs))
    ledger_error = None
    executions: dict[str, Any] = {}
    try:
        executions = await read_executions(target.resonate_url, own | answered, token=target.token)
    except Exception as exc:  # reported as a violation: no ledger, no verdict on executions
        ledger_error = f"ledger not readable at {target.resonate_url}: {type(exc).__name__}: {exc}"
    for job in jobs:
        job.executions = executions.get(job.job_id or "", [])
    run = RunRecord(
        target=target.name,
        started_at=start,
        ttl_s=settings.ttl,
        grace_s=settings.grace,
        job_budget_s=len(STEPS) * settings.max_step_delay,
        window_end=window_end,
        lease_deadline=lease_deadline,
        deadline=deadline,
        finished_at=time.time(),
        jobs=jobs,
        faults=faults,
        planned_faults=counts,
        unexpected={i: executions.get(i, []) for i in answered - own},
        ledger_error=ledger_error,
        resonate_recovery_bound_s=settings.resonate_recovery_bound,
        long_polls=polls,
        config={
            **settings.model_dump(mode="json", exclude={"resonate_token"}),
            "seed": seed,
            "run_id": run_id,
            **target.details,
        },
    )
    report = check(run)
    if sink is not None:
        await sink.finish(jobs, settings.webhook_wait, report)
    return report, run
