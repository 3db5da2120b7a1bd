from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.stack.layout import REPO_ROOT, RETRY_TIMEOUT_MS

#: The dev server's SQLite file, inside the state directory.
DEVSERVER_DB_NAME = "devserver.sqlite3"
#: The gateway's job-id secret for make run, generated once, inside the state directory.
ID_SECRET_NAME = "id-secret"  # noqa: S105 - a file name


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
    state_dir: Path = Field(
        default=Path(".longhaul"),
        validate_default=True,
        description=(
            f"Where make run keeps state across runs (the dev server's {DEVSERVER_DB_NAME}); "
            "relative to the repository. Created if missing."
        ),
    )
    fresh: bool = Field(
        default=False,
        description="Delete the dev server's state before starting (what make run-fresh sets).",
    )
    devserver_retry_timeout_ms: int = Field(
        default=RETRY_TIMEOUT_MS,
        ge=1,
        validation_alias="RESONATE_TASKS__RETRY_TIMEOUT",
        description=(
            "Dev server's retry timer in ms: a job no worker took is offered again after it. "
            "The chart sets the real server's to the same."
        ),
    )

    api_keys_file: Path | None = Field(
        default=None,
        validation_alias="LONGHAUL_AUTH_API_KEYS_FILE",
        description=(
            "Turn gateway authentication on with this API key file (relative to the repository; "
            "python -m services.gateway.keys new --file ... adds keys). Unset: authentication is "
            "off (tenant 'default'), and the start-up log says so."
        ),
    )

    resonate_auth: bool = Field(
        default=False,
        description=(
            "Run with Resonate JWT auth on: a key pair under the state dir (resonate-auth/), "
            "the public key to the dev server, the private key to gateway and workers (they "
            "mint their own tokens). With RESONATE_URL, that server must hold the public key."
        ),
    )

    @field_validator("state_dir", "api_keys_file")
    @classmethod
    def _under_repo(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        # `make run` runs from the repository; so does this default, from anywhere.
        return value if value.is_absolute() else REPO_ROOT / value

    @property
    def devserver_db(self) -> Path:
        return self.state_dir / DEVSERVER_DB_NAME

    @property
    def id_secret_file(self) -> Path:
        return self.state_dir / ID_SECRET_NAME

    @property
    def auth_dir(self) -> Path:
        return self.state_dir / "resonate-auth"
