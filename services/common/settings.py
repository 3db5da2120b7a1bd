"""Settings pieces shared by every entry point (each builds its own object once)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Fields every process reads. Unknown LONGHAUL_* variables are ignored."""

    model_config = SettingsConfigDict(env_prefix="LONGHAUL_", extra="ignore", frozen=True)

    resonate_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8001"),
        validation_alias="RESONATE_URL",
        description="URL of the Resonate server.",
    )
    resonate_token: SecretStr | None = Field(
        default=None,
        validation_alias="RESONATE_TOKEN",
        description="Bearer token for the Resonate server (when it has auth on).",
    )
    # Explicit names: shared by every process whatever its own prefix.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LONGHAUL_LOG_LEVEL", description="Log level."
    )
    log_format: Literal["json", "console"] = Field(
        default="json",
        validation_alias="LONGHAUL_LOG_FORMAT",
        description="json (one object per line) or console (aligned, for humans).",
    )

    # Read by gateway and worker alike: both build the same catalogue from it.
    job_modules: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("services.kinds.builtin",),
        validation_alias="LONGHAUL_JOB_MODULES",
        description="Comma-separated importable modules whose KINDS are the job kinds.",
    )

    @field_validator("job_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("job_modules")
    @classmethod
    def _module_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one module")
        for name in value:
            if not all(part.isidentifier() for part in name.split(".")):
                raise ValueError(f"{name!r} is not an importable module name")
        if len(set(value)) != len(value):
            raise ValueError("a module is named twice")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def resonate_url_str(self) -> str:
        return str(self.resonate_url).rstrip("/")

    @property
    def token(self) -> str | None:
        return self.resonate_token.get_secret_value() if self.resonate_token else None
