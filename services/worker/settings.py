from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from services.common.settings import CommonSettings
from services.common.webhook_networks import (
    ALLOWED_NETWORKS_HELP,
    NetworkPolicy,
    parse_networks,
    split_networks,
)
from services.contract.notify import NOTIFY_HORIZON_MS

#: About 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h: 12 attempts over about 2.8 days.
DEFAULT_WEBHOOK_DELAYS_S = (5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 36000, 36000)
#: A delay is drawn from [d * (1 - j), d * (1 + j)].
WEBHOOK_JITTER = 0.2


def _default_pid() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}".lower()


class WorkerSettings(CommonSettings):
    """Worker configuration, built once in ``python -m services.worker``."""

    model_config = SettingsConfigDict(env_prefix="LONGHAUL_WORKER_", extra="ignore", frozen=True)

    pid: str = Field(
        default_factory=_default_pid,
        pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$",
        description="Identity on the Resonate server (the pod name in Kubernetes).",
    )
    ttl_s: float = Field(
        default=60, ge=1, le=3600, description="Task lease; a dead worker's tasks return after it."
    )
    concurrency: int = Field(default=16, ge=1, le=1024, description="Tasks executing at once.")
    metrics_host: str = Field(default="0.0.0.0", description="Bind address of /metrics, /healthz.")
    metrics_port: int = Field(
        default=9100, ge=1, le=65535, description="Port of /metrics, /healthz, /readyz."
    )
    drain_timeout_s: float = Field(
        default=25, ge=0, le=3600, description="On SIGTERM, how long running tasks may finish."
    )
    ledger: bool = Field(
        default=False,
        description="Record every step execution as a promise (chaos tests count duplicates).",
    )
    error_tracebacks: bool = Field(
        default=False,
        description="Put the Python traceback in a failed job's error (off: type and message).",
    )
    outbox_dir: Path | None = Field(
        default=None, description="Where the pipeline kind publishes reports (none: log only)."
    )
    listener_reconnect_max_s: float = Field(
        default=1.0,
        ge=0.05,
        le=60,
        description="Cap of the reconnect backoff (50 ms doubling) of the SSE listener and of "
        "retried requests: once the Resonate server answers again, work flows within it.",
    )
    resonate_connect_timeout_s: float = Field(
        default=5, gt=0, le=60, description="Bound on opening a connection to the Resonate server."
    )
    resonate_read_timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=300,
        description="Bound on waiting for an answer to one request (then it is retried); "
        "default: the smaller of 10 s and half the lease, so a hung heartbeat cannot lose it.",
    )
    tcp_keepalive_s: int = Field(
        default=15,
        ge=1,
        le=3600,
        description="Idle seconds before TCP keep-alive probes a silent Resonate server; a peer "
        "that vanished is noticed about twice this later.",
    )

    unknown_function_pause_s: float = Field(
        default=5.0,
        ge=0.1,
        le=600,
        description="A job whose function this worker lacks is handed back after this pause "
        "(another worker may have it), instead of at once, forever.",
    )

    webhook_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        validation_alias="LONGHAUL_WEBHOOK_SECRETS",
        description="Comma-separated whsec_ secrets (base64 after the prefix): every one signs "
        "each webhook, so receivers can rotate. Empty: webhooks fail (nothing unsigned is sent).",
    )
    webhook_tenant_secrets_file: Path | None = Field(
        default=None,
        validation_alias="LONGHAUL_WEBHOOK_TENANT_SECRETS_FILE",
        description="JSON file {tenant: [whsec_...]}: a listed tenant's webhooks are signed "
        "with its own secrets instead of the installation's.",
    )
    webhook_allowed_networks: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        validation_alias="LONGHAUL_WEBHOOK_ALLOWED_NETWORKS",
        description=ALLOWED_NETWORKS_HELP,
    )
    webhook_retry_delays_s: Annotated[tuple[float, ...], NoDecode] = Field(
        default=DEFAULT_WEBHOOK_DELAYS_S,
        validation_alias="LONGHAUL_WEBHOOK_RETRY_DELAYS_S",
        description="Comma-separated seconds between webhook attempts (one attempt more than "
        f"delays), each jittered by +-{WEBHOOK_JITTER:.0%}.",
    )
    webhook_attempt_timeout_s: float = Field(
        default=15,
        gt=0,
        le=300,
        validation_alias="LONGHAUL_WEBHOOK_ATTEMPT_TIMEOUT_S",
        description="Bound on one webhook attempt, connect to response status.",
    )
    webhook_max_retry_after_s: float = Field(
        default=3600,
        ge=0,
        le=86400,
        validation_alias="LONGHAUL_WEBHOOK_MAX_RETRY_AFTER_S",
        description="A receiver's Retry-After may lengthen a delay up to this.",
    )
    webhook_max_event_bytes: int = Field(
        default=65536,
        ge=1024,
        le=16 * 1_048_576,
        validation_alias="LONGHAUL_WEBHOOK_MAX_EVENT_BYTES",
        description="An event over this leaves out the job's result (the receiver GETs the job).",
    )

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets_decode(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        from services.worker.notify.signing import check_secret

        for secret in value:
            check_secret(secret.get_secret_value(), "LONGHAUL_WEBHOOK_SECRETS")
        return value

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _split_webhook_networks(cls, value: object) -> object:
        return split_networks(value)

    @field_validator("webhook_retry_delays_s", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(part) for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _schedule_fits_the_horizon(self) -> WorkerSettings:
        if any(delay < 0 for delay in self.webhook_retry_delays_s):
            raise ValueError("LONGHAUL_WEBHOOK_RETRY_DELAYS_S must not be negative")
        if len(self.webhook_retry_delays_s) > 40:
            raise ValueError("LONGHAUL_WEBHOOK_RETRY_DELAYS_S: at most 40 retries")
        attempts = len(self.webhook_retry_delays_s) + 1
        worst_s = sum(
            max(d * (1 + WEBHOOK_JITTER), self.webhook_max_retry_after_s)
            for d in self.webhook_retry_delays_s
        ) + attempts * (self.webhook_attempt_timeout_s + self.ttl_s)
        if worst_s * 1000 > NOTIFY_HORIZON_MS:
            raise ValueError(
                f"the webhook schedule may take {worst_s / 3600:.0f} h, more than the "
                f"notifier's {NOTIFY_HORIZON_MS / 3_600_000:.0f} h: shorten "
                "LONGHAUL_WEBHOOK_RETRY_DELAYS_S or LONGHAUL_WEBHOOK_MAX_RETRY_AFTER_S"
            )
        return self

    @property
    def webhook_policy(self) -> NetworkPolicy:
        return NetworkPolicy(parse_networks(self.webhook_allowed_networks))

    @property
    def request_timeout_s(self) -> float:
        if self.resonate_read_timeout_s is not None:
            return self.resonate_read_timeout_s
        return min(10.0, self.ttl_s / 2)
