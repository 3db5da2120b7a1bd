"""The worker process: join group ``worker``, run jobs, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import structlog
from aiohttp import web
from resonate.resonate import Resonate

from services.common.resonate_credentials import ResonateCredentials
from services.common.stream_status import ListenerStatus
from services.common.tracing import start_tracing
from services.contract import GROUP, load_catalogue
from services.contract.adverts import keep_advertising
from services.contract.catalogue import resolve_functions
from services.contract.ledger import PromiseLedger
from services.worker.jobs import JobDeps, Outbox, register_jobs
from services.worker.metrics import WorkerMetrics, ops_app
from services.worker.notify.notifier import register_notifier
from services.worker.notify.wiring import notify_deps
from services.worker.sdk.connections import BoundedHttp, SupervisedSSE, apply_token
from services.worker.sdk.drain import drain
from services.worker.sdk.guards import install_guards
from services.worker.sdk.settled import on_settled
from services.worker.sdk.slots import SlotGauge
from services.worker.settings import WorkerSettings

log = structlog.get_logger("longhaul.worker")


def connect_worker(
    settings: WorkerSettings, status: ListenerStatus, token: str | None = None
) -> Resonate:
    """The SDK client on our connections: bounded requests, a listener that never goes deaf.

    ``token`` is the first one; renewals go in through ``sdk.connections.apply_token``.
    """
    url = settings.resonate_url_str
    return Resonate(
        network=BoundedHttp(
            url,
            token,
            connect_timeout_s=settings.resonate_connect_timeout_s,
            read_timeout_s=settings.request_timeout_s,
            tcp_keepalive_s=settings.tcp_keepalive_s,
            reconnect_max_s=settings.listener_reconnect_max_s,
        ),
        sources=[
            SupervisedSSE(
                url,
                pid=settings.pid,
                group=GROUP,
                auth=token,
                status=status,
                connect_timeout_s=settings.resonate_connect_timeout_s,
                tcp_keepalive_s=settings.tcp_keepalive_s,
                reconnect_max_s=settings.listener_reconnect_max_s,
            )
        ],
        token=token,
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
    metrics.declare_kinds(catalogue.names)
    listener = ListenerStatus()
    metrics.watch_listener(listener)
    credentials = ResonateCredentials.from_settings(
        settings, subject=f"longhaul-worker:{settings.pid}"
    )
    credentials.on_change.append(lambda _token, exp: metrics.token_expiry(credentials.mode, exp))
    credentials.notify()
    draining = False

    def not_ready() -> str | None:
        if draining:
            return "draining"
        # An expired token: the open stream may still deliver, but every acquire is refused.
        return credentials.not_ready_reason() or listener.not_ready_reason()

    app = ops_app(metrics, not_ready, listener.not_live_reason, listener.snapshot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
    await site.start()

    resonate = connect_worker(settings, listener, credentials.token)
    credentials.on_change.append(lambda token, _exp: apply_token(resonate, token))
    metrics.watch_slots(SlotGauge(resonate, settings.concurrency))
    on_settled(resonate, metrics.job_settled)
    renewal = asyncio.create_task(credentials.run(), name="longhaul-resonate-token")
    tracing = start_tracing(settings, "longhaul-worker", instance_id=settings.pid)
    deps = JobDeps(
        metrics=metrics,
        outbox=Outbox(settings.outbox_dir),
        ledger=PromiseLedger(resonate.promises, settings.pid) if settings.ledger else None,
        tracebacks=settings.error_tracebacks,
        tracing=tracing,
    )
    register_jobs(resonate, deps, catalogue)
    notifier = notify_deps(settings, resonate, metrics.registry)
    register_notifier(resonate, notifier)
    install_guards(resonate, unknown_function_pause_s=settings.unknown_function_pause_s)
    # In the background, once per bucket for the life of the worker; failures are retried.
    adverts = asyncio.create_task(
        keep_advertising(resonate.promises, catalogue, settings.pid), name="longhaul-adverts"
    )
    log.info(
        "worker started",
        group=GROUP,
        pid=settings.pid,
        resonate_url=settings.resonate_url_str,
        ttl_s=settings.ttl_s,
        concurrency=settings.concurrency,
        metrics_port=settings.metrics_port,
        reconnect_max_s=settings.listener_reconnect_max_s,
        request_timeout_s=settings.request_timeout_s,
        auth=credentials.mode,
        kinds=catalogue.names,
        job_modules=list(settings.job_modules),
        tracing=tracing is not None,
    )
    await stop.wait()
    draining = True
    adverts.cancel()
    log.info("draining", timeout_s=settings.drain_timeout_s)
    released = await drain(resonate, settings.drain_timeout_s)
    renewal.cancel()
    await notifier.session.close()
    if tracing is not None:
        await asyncio.to_thread(tracing.shutdown)
    log.info("worker stopped", released_tasks=released)
    await runner.cleanup()
