"""Settings pieces shared by every entry point (each builds its own object once)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
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
        description="A JWT for a Resonate server with auth on, minted elsewhere: its exp is "
        "watched (metric, error logs from LONGHAUL_RESONATE_AUTH_WARN_S before it, not ready "
        "once expired). Prefer LONGHAUL_RESONATE_AUTH_PRIVATE_KEY.",
    )
    resonate_auth_private_key: Path | None = Field(
        default=None,
        validation_alias="LONGHAUL_RESONATE_AUTH_PRIVATE_KEY",
        description="PEM private key file (RSA >= 2048 bits, EC P-256/P-384, Ed25519): the "
        "process mints its own short-lived admin JWTs for the Resonate server and renews "
        "them at half-life. Exclusive with RESONATE_TOKEN.",
    )
    resonate_auth_ttl_s: int = Field(
        default=900,
        ge=5,
        le=86_400,
        validation_alias="LONGHAUL_RESONATE_AUTH_TTL_S",
        description="Lifetime of a minted token (renewed at half of it).",
    )
    resonate_auth_warn_s: int = Field(
        default=86_400,
        ge=0,
        validation_alias="LONGHAUL_RESONATE_AUTH_WARN_S",
        description="A static RESONATE_TOKEN is logged as an error, hourly, from this long "
        "before its exp.",
    )
    resonate_auth_iss: str | None = Field(
        default=None,
        validation_alias="RESONATE_AUTH__ISS",
        description="iss claim of minted tokens (the Resonate server's own variable).",
    )
    resonate_auth_aud: str | None = Field(
        default=None,
        validation_alias="RESONATE_AUTH__AUD",
        description="Audience of minted tokens, sent as a one-element aud list (the Resonate "
        "server's own variable).",
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

    @model_validator(mode="after")
    def _one_token_source_the_server_accepts(self) -> Self:
        if self.resonate_token is not None and self.resonate_auth_private_key is not None:
            raise ValueError("set RESONATE_TOKEN or LONGHAUL_RESONATE_AUTH_PRIVATE_KEY, not both")
        if self.resonate_token is not None:
            from services.common.resonate_token import TokenError, inspect

            try:
                problems = inspect(self.resonate_token.get_secret_value()).problems()
            except TokenError as exc:
                raise ValueError(f"RESONATE_TOKEN: {exc}") from exc
            if problems:
                raise ValueError(
                    "RESONATE_TOKEN would be refused by the Resonate server: " + "; ".join(problems)
                )
        return self

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
