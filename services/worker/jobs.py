"""Register every kind of the catalogue on this worker's Resonate client.

Each kind's function is registered under its contract name (``longhaul.<kind>``)
and version, wrapped twice: ``execution.entry_point`` (attempts, retries, the
stored failure) inside ``instrumented`` (metrics). A kind whose function cannot
be found fails the worker's boot (``CatalogueError``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from resonate.context import Context
from resonate.error import PlatformError, Suspended
from resonate.resonate import Resonate
from resonate.retry import Never
from resonate.timing import now_ms

from services.common.tracing import Tracing
from services.contract.catalogue import Catalogue, resolve_functions
from services.contract.ledger import PromiseLedger
from services.kinds.builtin import BuiltinDeps, Outbox
from services.kinds.builtin import _statistics as _statistics  # tests/chaos imports it here
from services.worker.attempts import AttemptLog
from services.worker.execution import entry_point
from services.worker.job_spans import traced
from services.worker.metrics import WorkerMetrics
from services.worker.sdk.retry import install_step_policy
from services.worker.sdk.spans import install_root_tags

log = structlog.get_logger("longhaul.worker.jobs")
DurableFn = Callable[..., Awaitable[Any]]

__all__ = ["JobDeps", "Outbox", "instrumented", "register_jobs"]


@dataclass
class JobDeps:
    metrics: WorkerMetrics
    outbox: Outbox
    ledger: PromiseLedger | None = None
    clock: Callable[[], int] = field(default=now_ms)
    #: Put the traceback in a failed job's error (LONGHAUL_WORKER_ERROR_TRACEBACKS).
    tracebacks: bool = False
    #: A span per execution and per step (None: tracing off, nothing installed).
    tracing: Tracing | None = None

    def builtin(self) -> BuiltinDeps:
        async def enter_step(ctx: Context, kind: str, step: str) -> None:
            self.metrics.steps.labels(kind, step).inc()
            if self.ledger is not None:
                await self.ledger.record(ctx.info.origin_id, step, self.clock())

        return BuiltinDeps(outbox=self.outbox, enter_step=enter_step)


def instrumented(kind: str, fn: DurableFn, metrics: WorkerMetrics) -> DurableFn:
    @functools.wraps(fn)
    async def run(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        metrics.started.labels(kind).inc()
        metrics.in_progress.labels(kind).inc()
        started = time.perf_counter()
        try:
            result = await fn(ctx, *args, **kwargs)
        except Suspended:
            metrics.suspended.labels(kind).inc()
            raise
        except PlatformError:
            # An attempt that ends to be retried, or a platform failure.
            metrics.failed.labels(kind).inc()
            raise
        except Exception as exc:
            metrics.failed.labels(kind).inc()
            log.warning("job failed", kind=kind, job_id=ctx.info.id, error=str(exc)[:1000])
            raise
        else:
            metrics.completed.labels(kind).inc()
            return result
        finally:
            metrics.in_progress.labels(kind).dec()
            metrics.duration.labels(kind).observe(time.perf_counter() - started)

    return run


def register_jobs(resonate: Resonate, deps: JobDeps, catalogue: Catalogue) -> None:
    """Register every version of every kind of ``catalogue`` (and nothing else)."""
    functions = resolve_functions(catalogue)
    install_step_policy(resonate)
    resonate.with_dependency(deps)
    resonate.with_dependency(deps.builtin())
    attempts = AttemptLog(resonate.promises)
    if deps.tracing is not None:
        install_root_tags(resonate)
    for kind in catalogue:
        for version in kind.versions():
            entry = entry_point(
                kind, functions[(kind.name, version)], attempts, tracebacks=deps.tracebacks
            )
            registered = instrumented(kind.name, entry, deps.metrics)
            if deps.tracing is not None:
                registered = traced(kind.name, registered, deps.tracing)
            # The entry point retries the job itself (see execution.py); the
            # SDK must not run it again in place.
            resonate.register(
                registered,
                name=kind.function_name,
                version=version,
                retry_policy=Never(),
            )
