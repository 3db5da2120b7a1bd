from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DevServerSettings(BaseSettings):
    """Dev Resonate server configuration, built once in ``python -m services.devserver``."""

    model_config = SettingsConfigDict(env_prefix="LONGHAUL_DEVSERVER_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Bind address.")
    port: int = Field(default=8001, ge=0, le=65535, description="Port (POST /, GET /poll/...).")
    tick_interval_s: float = Field(
        default=0.5, gt=0, le=10, description="How often leases and timeouts are checked."
    )
    keepalive_s: float = Field(
        default=10, gt=0, le=300, description="SSE comment interval; finds dead pollers."
    )
    token: SecretStr | None = Field(
        default=None, description="When set, requests must carry 'Authorization: Bearer <token>'."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LONGHAUL_LOG_LEVEL", description="Log level."
    )
    log_format: Literal["json", "console"] = Field(
        default="json", validation_alias="LONGHAUL_LOG_FORMAT", description="json or console."
    )
