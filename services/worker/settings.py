from __future__ import annotations

import socket
import uuid
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import CommonSettings


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

    @property
    def request_timeout_s(self) -> float:
        if self.resonate_read_timeout_s is not None:
            return self.resonate_read_timeout_s
        return min(10.0, self.ttl_s / 2)
