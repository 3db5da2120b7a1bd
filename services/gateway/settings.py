from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from services.common.retention import RetentionSettings
from services.common.settings import CommonSettings
from services.common.webhook_networks import (
    ALLOWED_NETWORKS_HELP,
    NetworkPolicy,
    parse_networks,
    split_networks,
)

#: What ``LONGHAUL_ID_SECRET`` falls back to with authentication off: ids stay
#: stable across restarts and gunicorn workers, and the start-up log says so.
DEV_ID_SECRET = "longhaul-dev-id-secret-with-auth-off-only"  # noqa: S105 - public on purpose
MIN_ID_SECRET_CHARS = 32
DEFAULT_JWT_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")


class GatewaySettings(RetentionSettings, CommonSettings):
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
    wait_push: bool = Field(
        default=True,
        description="Long-polls (?wait=) are woken by the Resonate server's push: each gunicorn "
        "worker holds one SSE stream to it and registers one listener per job waited on. "
        "false: every waiting request re-reads the job on a backoff capped at 0.5 s instead.",
    )
    wait_push_reconnect_max_s: float = Field(
        default=1.0,
        ge=0.05,
        le=60,
        description="Cap of the push stream's reconnect backoff (50 ms doubling); meanwhile "
        "long-polls fall back to re-reading.",
    )
    wait_push_tcp_keepalive_s: int = Field(
        default=15,
        ge=1,
        le=3600,
        description="Idle seconds before TCP keep-alive probes the push stream's peer.",
    )
    finished_cache_size: int = Field(
        default=10_000,
        ge=0,
        le=1_000_000,
        description="Finished job views each gunicorn worker keeps (least recently used out); "
        "a finished job never changes, so a cached read costs the Resonate server nothing. "
        "0: no cache.",
    )
    finished_cache_ttl_s: float = Field(
        default=300, gt=0, le=86_400, description="How long a finished job view stays cached."
    )
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

    auth_mode: Literal["required", "none"] = Field(
        default="required",
        description="required: every job route needs an API key or an OIDC token (configure "
        "at least one); none: no authentication, every caller is tenant 'default' (say so "
        "explicitly: the gateway refuses to start without either).",
    )
    auth_api_keys_file: Path | None = Field(
        default=None,
        description="File of hashed API keys (one 'key_id tenant scopes sha256:<hex>' a line); "
        "re-read when it changes. Create keys with python -m services.gateway.keys new.",
    )
    auth_reload_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How often the API key file (and a JWKS file) is checked for changes.",
    )
    auth_oidc_issuer: str | None = Field(
        default=None, description="OIDC: the required iss claim; setting it turns OIDC on."
    )
    auth_oidc_audience: str | None = Field(
        default=None, description="OIDC: the required aud claim (this API's audience)."
    )
    auth_oidc_jwks_url: AnyHttpUrl | None = Field(
        default=None,
        description="OIDC: the provider's JWKS URL (cached, refetched on an unknown kid).",
    )
    auth_oidc_jwks_file: Path | None = Field(
        default=None, description="OIDC: a JWKS file instead of a URL (re-read when it changes)."
    )
    auth_oidc_tenant_claim: str = Field(
        default="tenant",
        min_length=1,
        description="OIDC: claim holding the tenant (dots reach into objects: ext.tenant).",
    )
    auth_oidc_scopes_claim: str = Field(
        default="scope",
        min_length=1,
        description="OIDC: claim holding the scopes (space-separated string or list).",
    )
    auth_oidc_algorithms: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_JWT_ALGORITHMS,
        description="OIDC: accepted signature algorithms, comma-separated (asymmetric only).",
    )
    auth_oidc_jwks_refresh_s: float = Field(
        default=300, gt=0, le=86400, description="OIDC: refetch a JWKS URL this often."
    )
    auth_oidc_leeway_s: float = Field(
        default=30, ge=0, le=300, description="OIDC: clock skew allowed on exp and nbf."
    )
    id_secret: SecretStr | None = Field(
        default=None,
        description="Server-side secret keying job ids derived from Idempotency-Keys "
        f"(HMAC-SHA256, at least {MIN_ID_SECRET_CHARS} characters; the same on every gateway, "
        "kept forever). Required with authentication; with it off a fixed dev value is used.",
    )

    webhook_allowed_networks: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description=ALLOWED_NETWORKS_HELP
    )

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _split_webhook_networks(cls, value: object) -> object:
        return split_networks(value)

    @property
    def webhook_policy(self) -> NetworkPolicy:
        return NetworkPolicy(parse_networks(self.webhook_allowed_networks))

    @field_validator("auth_oidc_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("auth_oidc_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from services.gateway.auth.oidc import SUPPORTED_ALGORITHMS

        unknown = set(value) - SUPPORTED_ALGORITHMS
        if unknown or not value:
            raise ValueError(
                f"LONGHAUL_AUTH_OIDC_ALGORITHMS must name some of "
                f"{', '.join(sorted(SUPPORTED_ALGORITHMS))}; not {', '.join(sorted(unknown))}"
            )
        return value

    @property
    def api_keys_on(self) -> bool:
        return self.auth_api_keys_file is not None

    @property
    def oidc_on(self) -> bool:
        return self.auth_oidc_issuer is not None

    @property
    def id_key(self) -> bytes:
        """The HMAC key of key-derived job ids."""
        secret = self.id_secret.get_secret_value() if self.id_secret else DEV_ID_SECRET
        return secret.encode()

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

    @model_validator(mode="after")
    def _auth_is_configured_or_off_on_purpose(self) -> GatewaySettings:
        if self.auth_mode == "none":
            if self.api_keys_on or self.oidc_on:
                raise ValueError(
                    "LONGHAUL_AUTH_MODE=none, but LONGHAUL_AUTH_API_KEYS_FILE or "
                    "LONGHAUL_AUTH_OIDC_ISSUER is set: remove them, or set "
                    "LONGHAUL_AUTH_MODE=required"
                )
        elif not (self.api_keys_on or self.oidc_on):
            raise ValueError(
                "authentication is required and not configured: set LONGHAUL_AUTH_API_KEYS_FILE "
                "(API keys) and/or LONGHAUL_AUTH_OIDC_ISSUER with LONGHAUL_AUTH_OIDC_AUDIENCE and "
                "LONGHAUL_AUTH_OIDC_JWKS_URL or _JWKS_FILE (OIDC), plus LONGHAUL_ID_SECRET; or set "
                "LONGHAUL_AUTH_MODE=none to run without authentication on purpose"
            )
        if self.oidc_on:
            if not self.auth_oidc_audience:
                raise ValueError("LONGHAUL_AUTH_OIDC_ISSUER needs LONGHAUL_AUTH_OIDC_AUDIENCE")
            if (self.auth_oidc_jwks_url is None) == (self.auth_oidc_jwks_file is None):
                raise ValueError(
                    "LONGHAUL_AUTH_OIDC_ISSUER needs exactly one of LONGHAUL_AUTH_OIDC_JWKS_URL "
                    "and LONGHAUL_AUTH_OIDC_JWKS_FILE"
                )
        for name, path in (
            ("LONGHAUL_AUTH_API_KEYS_FILE", self.auth_api_keys_file),
            ("LONGHAUL_AUTH_OIDC_JWKS_FILE", self.auth_oidc_jwks_file),
        ):
            if path is not None and not path.is_file():
                raise ValueError(f"{name}={path} is not a readable file")
        if self.auth_mode == "required":
            if self.id_secret is None:
                raise ValueError(
                    "authentication is on: LONGHAUL_ID_SECRET is required (a random string of at "
                    f"least {MIN_ID_SECRET_CHARS} characters, the same on every gateway, kept)"
                )
        if self.id_secret is not None and len(self.id_secret.get_secret_value()) < (
            MIN_ID_SECRET_CHARS
        ):
            raise ValueError(
                f"LONGHAUL_ID_SECRET must be at least {MIN_ID_SECRET_CHARS} characters"
            )
        return self
