"""The notifier's dependencies, built once from the worker's settings."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from resonate.resonate import Resonate

from services.worker.notify.guard import guarded_session
from services.worker.notify.metrics import WebhookMetrics
from services.worker.notify.notifier import NotifyDeps
from services.worker.notify.signing import Signer
from services.worker.settings import WEBHOOK_JITTER, WorkerSettings


def notify_deps(
    settings: WorkerSettings, resonate: Resonate, registry: CollectorRegistry
) -> NotifyDeps:
    signer = Signer.from_secrets(
        [s.get_secret_value() for s in settings.webhook_secrets],
        settings.webhook_tenant_secrets_file,
    )
    policy = settings.webhook_policy
    return NotifyDeps(
        promises=resonate.promises,
        session=guarded_session(policy),
        policy=policy,
        signer=signer,
        metrics=WebhookMetrics(registry),
        delays_s=settings.webhook_retry_delays_s,
        jitter=WEBHOOK_JITTER,
        attempt_timeout_s=settings.webhook_attempt_timeout_s,
        max_retry_after_s=settings.webhook_max_retry_after_s,
        max_event_bytes=settings.webhook_max_event_bytes,
    )
