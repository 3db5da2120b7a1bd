from __future__ import annotations

from pydantic import AnyHttpUrl, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    """``make run``: what to start and where. Built once in ``python -m services.stack``."""

    model_config = SettingsConfigDict(env_prefix="LONGHAUL_STACK_", extra="ignore", frozen=True)

    port: int = Field(
        default=8000, ge=1, le=65535, validation_alias="PORT", description="Gateway port."
    )
    resonate_url: AnyHttpUrl | None = Field(
        default=None,
        validation_alias="RESONATE_URL",
        description="Use this Resonate server instead of starting the dev server.",
    )
    devserver_port: int = Field(default=8001, ge=1, le=65535, description="Dev server port.")
    workers: int = Field(default=2, ge=0, le=32, description="Worker processes to start.")
    web_concurrency: int = Field(default=2, ge=1, le=32, description="gunicorn workers.")
    worker_metrics_base_port: int = Field(
        default=9101, ge=1024, le=65000, description="Worker n serves metrics on base + n - 1."
    )
