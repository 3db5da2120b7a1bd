"""The worker process: join group ``worker``, run jobs, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import structlog
from aiohttp import web
from resonate.resonate import Resonate
from resonate.timing import now_ms

from services.contract import GROUP, load_catalogue
from services.contract.adverts import advertise
from services.contract.catalogue import resolve_functions
from services.contract.ledger import PromiseLedger
from services.worker.jobs import JobDeps, Outbox, register_jobs
from services.worker.metrics import WorkerMetrics, ops_app
from services.worker.sdk_lifecycle import drain
from services.worker.settings import WorkerSettings

log = structlog.get_logger("longhaul.worker")


def connect_worker(settings: WorkerSettings) -> Resonate:
    return Resonate(
        url=settings.resonate_url_str,
        token=settings.token,
        group=GROUP,
        pid=settings.pid,
        ttl=timedelta(seconds=settings.ttl_s),
        max_concurrent_tasks=settings.concurrency,
        env={},
    )


async def run_worker(settings: WorkerSettings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    # Before anything listens: a bad job module stops the boot (CatalogueError).
    catalogue = load_catalogue(settings.job_modules)
    resolve_functions(catalogue)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    metrics = WorkerMetrics()
    draining = False
    runner = web.AppRunner(ops_app(metrics, lambda: not draining), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
    await site.start()

    resonate = connect_worker(settings)
    deps = JobDeps(
        metrics=metrics,
        outbox=Outbox(settings.outbox_dir),
        ledger=PromiseLedger(resonate.promises, settings.pid) if settings.ledger else None,
        tracebacks=settings.error_tracebacks,
    )
    register_jobs(resonate, deps, catalogue)
    # In the background: the SDK retries an unreachable server forever.
    adverts = asyncio.create_task(advertise(resonate.promises, catalogue, settings.pid, now_ms()))
    log.info(
        "worker started",
        group=GROUP,
        pid=settings.pid,
        resonate_url=settings.resonate_url_str,
        ttl_s=settings.ttl_s,
        concurrency=settings.concurrency,
        metrics_port=settings.metrics_port,
        kinds=catalogue.names,
        job_modules=list(settings.job_modules),
    )
    await stop.wait()
    draining = True
    adverts.cancel()
    log.info("draining", timeout_s=settings.drain_timeout_s)
    released = await drain(resonate, settings.drain_timeout_s)
    log.info("worker stopped", released_tasks=released)
    await runner.cleanup()
