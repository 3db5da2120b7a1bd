"""Configuration of ``python -m services.retention``, built once at its entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.retention import RetentionSettings


class RetentionCommandSettings(RetentionSettings):
    """The retention command (the chart's ``retention`` CronJob runs it)."""

    model_config = SettingsConfigDict(
        env_prefix="LONGHAUL_RETENTION_", extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: SecretStr = Field(
        validation_alias=AliasChoices(
            "LONGHAUL_RETENTION_DATABASE_URL", "RESONATE_STORAGE__POSTGRES__URL"
        ),
        description=(
            "The Resonate server's Postgres (libpq URL); defaults to the server's own "
            "RESONATE_STORAGE__POSTGRES__URL, which the chart sets from the same Secret."
        ),
    )
    batch_ids: int = Field(
        default=1000,
        ge=10,
        le=100_000,
        description=(
            "Promise ids examined per batch (one transaction, walking the primary key): every "
            "finished job group among them is deleted whole."
        ),
    )
    pause_s: float = Field(
        default=0.2, ge=0, le=60, description="Pause between batches (leaves the server room)."
    )
    lock_timeout_ms: int = Field(
        default=2000,
        ge=1,
        le=60_000,
        description="lock_timeout of each batch: a row the server holds fails the batch, not it.",
    )
    statement_timeout_ms: int = Field(
        default=30_000, ge=100, le=600_000, description="statement_timeout of each batch."
    )
    max_failed_batches: int = Field(
        default=10,
        ge=1,
        description="Consecutive failed batches (lock or statement timeouts) before the run fails.",
    )
    max_runtime_s: float = Field(
        default=3000,
        gt=0,
        description="A run stops (successfully) after this long; the next run carries on.",
    )
    create_index: bool = Field(
        default=True,
        description=(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS longhaul_promises_origin ON promises "
            "(origin): an addition to the server's v0.9.8 schema, without which every batch "
            "scans the whole table (docs/retention.md)."
        ),
    )
    index_timeout_ms: int = Field(
        default=600_000,
        ge=1000,
        description=(
            "Bound on building that index (it waits for older transactions); on timeout the "
            "run goes on without it."
        ),
    )
    textfile: Path | None = Field(
        default=None,
        description=(
            "Also write the run's summary in the Prometheus text format to this file "
            "(node_exporter's textfile collector); unset = the final JSON log line only."
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LONGHAUL_LOG_LEVEL", description="Log level."
    )
    log_format: Literal["json", "console"] = Field(
        default="json", validation_alias="LONGHAUL_LOG_FORMAT", description="json or console."
    )
