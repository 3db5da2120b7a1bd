"""``longhaul.notify``: the durable function that delivers one job's completion webhook.

The gateway creates its root promise ``<job>.notify`` right after the job's.
A worker runs it at once; it awaits the job's promise through the server's
callbacks (``sdk.await_promise``) and suspends, holding nothing. When the job
settles, whatever settled it, the server resumes it on some worker, which
builds the event and delivers it:

- each attempt is a ``ctx.run`` step: once it completed, a replay (the worker
  died, the server restarted) returns its stored result instead of sending
  again; a worker dying *during* an attempt means that attempt runs again
  (at least once, receivers dedupe on ``webhook-id``);
- between attempts a durable ``ctx.sleep``: the server's timer wakes it, on
  any worker, after any restart.

The result is the notification's summary (``contract.notify.Notification``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import structlog
from resonate.context import Context
from resonate.promises import Promises
from resonate.resonate import Resonate
from resonate.retry import Never
from resonate.timing import now_ms
from resonate.types import Value

from services.common.webhook_networks import NetworkPolicy
from services.contract.notify import (
    NOTIFY_FUNCTION,
    NOTIFY_HORIZON_MS,
    NOTIFY_VERSION,
    TAG_NOTIFY_ATTEMPT,
    Notification,
    attempt_id,
    webhook_id,
)
from services.worker.notify import delivery
from services.worker.notify.event import encode_event, event_of
from services.worker.notify.metrics import WebhookMetrics
from services.worker.notify.schedule import next_delay, parse_retry_after
from services.worker.notify.signing import Signer
from services.worker.sdk.await_promise import await_existing

log = structlog.get_logger("longhaul.worker.notify")


@dataclass
class NotifyDeps:
    promises: Promises
    session: aiohttp.ClientSession
    policy: NetworkPolicy
    signer: Signer
    metrics: WebhookMetrics
    delays_s: tuple[float, ...]
    jitter: float
    attempt_timeout_s: float
    max_retry_after_s: float
    max_event_bytes: int
    clock: Callable[[], int] = field(default=now_ms)
    now: Callable[[], datetime] = field(default=delivery.now_utc)


async def notify(ctx: Context, job_id: str, url: str, tenant: str | None = None) -> dict[str, Any]:
    deps = ctx.get_dependency(NotifyDeps)
    job = await await_existing(ctx, deps.promises, job_id)
    body = encode_event(event_of(job), deps.max_event_bytes)
    n = 0
    while True:
        n += 1
        result = await ctx.run(deliver_attempt, job_id, url, tenant, body, n)
        outcome = result["outcome"]
        if outcome != "retry":
            break
        delay = next_delay(
            n,
            deps.delays_s,
            jitter=deps.jitter,
            retry_after_s=result.get("retry_after_s"),
            max_retry_after_s=deps.max_retry_after_s,
        )
        if delay is None:
            break
        await ctx.sleep(timedelta(seconds=delay))
    state = {"delivered": "delivered", "gone": "gone"}.get(outcome, "failed")
    summary = Notification(
        url=url,
        state=state,  # type: ignore[arg-type]
        attempts=n,
        last_status=result.get("status"),
        delivered_ms=result.get("at_ms") if state == "delivered" else None,
        last_error=result.get("error"),
    ).summary()
    # Counted when the notifier returns: a worker dying between this and the
    # task's fulfilment counts it twice (it returns again on replay).
    deps.metrics.deliveries.labels(state).inc()
    if state == "delivered" and job.settled_at is not None:
        deps.metrics.settle_to_delivered.observe(max(0, result["at_ms"] - job.settled_at) / 1000)
    log.info(
        "webhook finished",
        job_id=job_id,
        state=state,
        attempts=n,
        last_status=result.get("status"),
        error=result.get("error"),
    )
    return summary


async def deliver_attempt(
    ctx: Context, job_id: str, url: str, tenant: str | None, body: bytes, n: int
) -> dict[str, Any]:
    """Attempt ``n``: sign (a fresh timestamp), POST, record it; never raises."""
    deps = ctx.get_dependency(NotifyDeps)
    started = time.perf_counter()
    now = deps.now()
    try:
        headers = deps.signer.headers(webhook_id(job_id), body, now, tenant)
    except ValueError as exc:
        result = delivery.AttemptResult("refused", None, f"refused: {exc}", None, 0.0)
    else:
        try:
            result = await delivery.attempt(
                deps.session, deps.policy, url, body, headers, deps.attempt_timeout_s
            )
        except Exception as exc:  # a bug here must not settle the notifier rejected
            result = delivery.AttemptResult(
                "retry", None, f"error: {type(exc).__name__}: {exc}"[:300], None, 0.0
            )
    deps.metrics.attempts.labels(result.label).inc()
    deps.metrics.attempt_duration.observe(time.perf_counter() - started)
    at_ms = deps.clock()
    record: dict[str, Any] = {
        "n": n,
        "outcome": result.outcome,
        "status": result.status,
        "error": result.error,
        "at_ms": at_ms,
        "retry_after_s": parse_retry_after(result.retry_after, now),
    }
    log.info(
        "webhook attempt",
        job_id=job_id,
        attempt=n,
        outcome=result.outcome,
        status=result.status,
        error=result.error,
        duration_s=round(result.duration_s, 4),
    )
    await _record(deps, job_id, n, record, at_ms)
    return record


async def _record(
    deps: NotifyDeps, job_id: str, n: int, record: dict[str, Any], at_ms: int
) -> None:
    # For the job view while retrying. Created and resolved at once: a pending
    # promise in the job's origin group would keep the job from retention.
    rid = attempt_id(job_id, n)
    tags = {"resonate:origin": job_id, TAG_NOTIFY_ATTEMPT: job_id}
    try:
        created = await deps.promises.create(
            rid, at_ms + NOTIFY_HORIZON_MS, Value(data=record), tags
        )
        if created.state == "pending":
            await deps.promises.resolve(rid, Value(data=None))
    except Exception as exc:  # visibility only: never a reason to send again
        log.warning("could not record a webhook attempt", job_id=job_id, attempt=n, error=str(exc))


def register_notifier(resonate: Resonate, deps: NotifyDeps) -> None:
    resonate.with_dependency(deps)
    resonate.register(notify, name=NOTIFY_FUNCTION, version=NOTIFY_VERSION, retry_policy=Never())
