from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from services.common.settings import CommonSettings


class GatewaySettings(CommonSettings):
    """Gateway configuration, built once in ``python -m services.gateway``."""

    host: str = Field(default="0.0.0.0", description="Bind address.")
    port: int = Field(default=8000, ge=1, le=65535, validation_alias="PORT", description="Port.")
    web_concurrency: int = Field(default=2, ge=1, le=64, description="gunicorn worker processes.")
    graceful_timeout_s: int = Field(
        default=20, gt=0, le=600, description="gunicorn graceful timeout; keep below the pod's."
    )
    keepalive_s: int = Field(
        default=5,
        ge=1,
        le=3600,
        description="Idle client connections are closed after this; behind a load balancer, "
        "set it above the balancer's idle timeout (else it may reuse a closed one: 502).",
    )
    resonate_timeout_s: float = Field(
        default=5, gt=0, le=60, description="Bound on each Resonate call; 503 after it."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=64 * 1_048_576, description="Request body limit (413)."
    )
    max_wait_s: float = Field(
        default=15, ge=0, le=120, description="Upper bound of ?wait= (below the graceful timeout)."
    )
    retry_after_s: int = Field(default=1, ge=0, le=3600, description="Retry-After on 202 and 503.")
    default_kind: str = Field(default="echo", description="Kind run by the /begin route.")
    require_workers: bool = Field(
        default=True,
        description="Refuse (503) submits of a kind no worker has advertised.",
    )
    prometheus_multiproc_dir: Path | None = Field(
        default=Path("/tmp/longhaul-metrics"),  # noqa: S108 - an emptyDir in the pod
        validation_alias="PROMETHEUS_MULTIPROC_DIR",
        description="prometheus-client multiprocess directory (gunicorn mode).",
    )

    @model_validator(mode="after")
    def _long_polls_end_before_shutdown(self) -> GatewaySettings:
        # A long-poll outliving gunicorn's graceful timeout would be cut off at
        # every rollout instead of answered.
        if self.max_wait_s >= self.graceful_timeout_s:
            raise ValueError(
                f"LONGHAUL_MAX_WAIT_S ({self.max_wait_s:g}) must be below "
                f"LONGHAUL_GRACEFUL_TIMEOUT_S ({self.graceful_timeout_s})"
            )
        return self
