from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.retention import RetentionSettings

#: The SQLite path that selects the in-memory mode (nothing is written anywhere).
MEMORY = ":memory:"


class DevServerSettings(RetentionSettings):
    """Dev Resonate server configuration, built once in ``python -m services.devserver``."""

    model_config = SettingsConfigDict(
        env_prefix="LONGHAUL_DEVSERVER_", extra="ignore", frozen=True, populate_by_name=True
    )

    host: str = Field(default="127.0.0.1", description="Bind address.")
    port: int = Field(default=8001, ge=0, le=65535, description="Port (POST /, GET /poll/...).")
    tick_interval_s: float = Field(
        default=0.5, gt=0, le=10, description="How often leases, timeouts and retries are checked."
    )
    retry_timeout_ms: int = Field(
        default=30_000,
        ge=1,
        validation_alias="RESONATE_TASKS__RETRY_TIMEOUT",
        description=(
            "Like the real server's tasks.retry_timeout: how long (ms) an unclaimed or "
            "undelivered execute waits before it is offered again."
        ),
    )
    db: str = Field(
        default=MEMORY,
        description=(
            "SQLite file holding the state (journal + snapshots), or ':memory:' to keep "
            "nothing (state is lost when the process stops)."
        ),
    )
    snapshot_every: int = Field(
        default=5_000,
        ge=1,
        description="Journal entries between snapshots (each snapshot truncates the journal).",
    )
    retention_sweep_s: float = Field(
        default=60,
        gt=0,
        le=86_400,
        description=(
            "How often the retention sweep deletes finished jobs past LONGHAUL_RETENTION "
            "(docs/retention.md)."
        ),
    )
    keepalive_s: float | None = Field(
        default=None,
        gt=0,
        le=300,
        description="SSE keep-alive comment interval; unset = none, like the real server.",
    )
    test_routes: bool = Field(
        default=False,
        description="Enable test-only routes (/test/close-streams, /test/create-race). Tests only.",
    )
    auth_publickey: Path | None = Field(
        default=None,
        validation_alias="RESONATE_AUTH__PUBLICKEY",
        description=(
            "PEM public key file (RSA, EC P-256/P-384 or Ed25519), the real server's variable: "
            "when set, every POST / needs a JWT in head.auth and every /poll a Bearer JWT, "
            "checked by the real server's rules (services/devserver/auth.py)."
        ),
    )
    auth_iss: str | None = Field(
        default=None,
        validation_alias="RESONATE_AUTH__ISS",
        description="Required iss claim (with RESONATE_AUTH__PUBLICKEY).",
    )
    auth_aud: str | None = Field(
        default=None,
        validation_alias="RESONATE_AUTH__AUD",
        description="Audience the token's aud list must contain (with RESONATE_AUTH__PUBLICKEY).",
    )
    auth_leeway_s: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="Seconds past exp a token is still accepted (the real server's jsonwebtoken "
        "default, 60); tests lower it to see an expired token refused.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LONGHAUL_LOG_LEVEL", description="Log level."
    )
    log_format: Literal["json", "console"] = Field(
        default="json", validation_alias="LONGHAUL_LOG_FORMAT", description="json or console."
    )

    @field_validator("db")
    @classmethod
    def _db_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("LONGHAUL_DEVSERVER_DB must be a file path or ':memory:'")
        return value

    @model_validator(mode="after")
    def _claims_need_a_key(self) -> DevServerSettings:
        if self.auth_publickey is None and (self.auth_iss or self.auth_aud):
            raise ValueError("RESONATE_AUTH__ISS and RESONATE_AUTH__AUD need the PUBLICKEY")
        if self.auth_publickey is not None and str(self.auth_publickey) == "none":
            raise ValueError(
                "RESONATE_AUTH__PUBLICKEY=none (the real server's unsigned mode) is not "
                "supported by the dev server: give it a PEM public key file"
            )
        return self

    @property
    def in_memory(self) -> bool:
        return self.db == MEMORY
