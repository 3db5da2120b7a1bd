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
    max_json_depth: int = Field(
        default=64,
        ge=2,
        le=200,
        description="Deepest nesting of arrays and objects a JSON body may have (422 past it).",
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=4096,
        le=1_048_576,
        description="Request line and headers together (431 past it, then the connection closes).",
    )
    max_url_bytes: int = Field(
        default=8192,
        ge=1024,
        le=1_048_576,
        description="Request target: path and query (414 past it).",
    )
    max_header_count: int = Field(
        default=100, ge=10, le=10_000, description="Header fields in one request (431 past it)."
    )
    header_timeout_s: float = Field(
        default=10,
        gt=0,
        le=300,
        description="Time a client has to send a request's line and headers, from its first byte "
        "(or from connecting); then 408 and the connection closes.",
    )
    body_drain_bytes: int = Field(
        default=8 * 1_048_576,
        ge=0,
        le=1024 * 1_048_576,
        description="Before a 413, up to this much of the refused body is read and dropped, so a "
        "client that sent it without Expect: 100-continue reads the answer instead of a reset.",
    )
    body_drain_timeout_s: float = Field(
        default=5, ge=0, le=300, description="Time spent at most on that draining."
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

    @model_validator(mode="after")
    def _url_fits_in_the_header_block(self) -> GatewaySettings:
        if self.max_url_bytes > self.max_header_bytes:
            raise ValueError(
                f"LONGHAUL_MAX_URL_BYTES ({self.max_url_bytes}) must not exceed "
                f"LONGHAUL_MAX_HEADER_BYTES ({self.max_header_bytes}): the request line is "
                "part of the header block"
            )
        return self
