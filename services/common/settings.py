"""Settings pieces shared by every entry point (each builds its own object once)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import unquote

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

    # OpenTelemetry traces (docs/tracing.md): the standard OTEL_* names, read here only.
    # Off unless an exporter or an OTLP endpoint is named.
    otel_sdk_disabled: bool = Field(
        default=False,
        validation_alias="OTEL_SDK_DISABLED",
        description="true: no traces, whatever else is set.",
    )
    otel_traces_exporter: Literal["otlp", "console", "none"] | None = Field(
        default=None,
        validation_alias="OTEL_TRACES_EXPORTER",
        description="otlp (OTLP/HTTP protobuf), console (spans on stdout) or none. Unset: "
        "otlp if an OTLP endpoint is set, else tracing is off.",
    )
    otel_exporter_otlp_endpoint: AnyHttpUrl | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="Base URL of an OTLP/HTTP receiver (spans go to <url>/v1/traces); "
        "setting it turns tracing on.",
    )
    otel_exporter_otlp_traces_endpoint: AnyHttpUrl | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        description="Full URL spans are posted to (wins over OTEL_EXPORTER_OTLP_ENDPOINT); "
        "setting it turns tracing on.",
    )
    otel_exporter_otlp_protocol: Literal["http/protobuf"] = Field(
        default="http/protobuf",
        validation_alias="OTEL_EXPORTER_OTLP_PROTOCOL",
        description="Only http/protobuf is built in (grpc fails the boot).",
    )
    otel_exporter_otlp_headers: SecretStr | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_HEADERS",
        description="Headers of every export, key=value,... (percent-encoded values).",
    )
    otel_service_name: str | None = Field(
        default=None,
        validation_alias="OTEL_SERVICE_NAME",
        description="service.name of the spans; default longhaul-gateway or longhaul-worker.",
    )
    otel_resource_attributes: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        validation_alias="OTEL_RESOURCE_ATTRIBUTES",
        description="Extra resource attributes, key=value,... (percent-encoded values).",
    )
    otel_traces_sampler: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = Field(
        default="parentbased_always_on",
        validation_alias="OTEL_TRACES_SAMPLER",
        description="Sampler; parentbased_* follow the caller's (and, in workers, the "
        "gateway's) decision.",
    )
    otel_traces_sampler_arg: float | None = Field(
        default=None,
        ge=0,
        le=1,
        validation_alias="OTEL_TRACES_SAMPLER_ARG",
        description="Ratio of the *traceidratio samplers (default 1.0).",
    )
    otel_bsp_schedule_delay: int = Field(
        default=5000,
        ge=1,
        le=600_000,
        validation_alias="OTEL_BSP_SCHEDULE_DELAY",
        description="Milliseconds between span exports of the batch processor.",
    )

    @field_validator("otel_resource_attributes", mode="before")
    @classmethod
    def _parse_resource_attributes(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_key_values(value, "OTEL_RESOURCE_ATTRIBUTES")
        return value

    @field_validator("otel_exporter_otlp_headers")
    @classmethod
    def _check_headers(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_key_values(value.get_secret_value(), "OTEL_EXPORTER_OTLP_HEADERS")
        return value

    @property
    def tracing_enabled(self) -> bool:
        if self.otel_sdk_disabled or self.otel_traces_exporter == "none":
            return False
        return self.otel_traces_exporter is not None or (
            self.otel_exporter_otlp_endpoint is not None
            or self.otel_exporter_otlp_traces_endpoint is not None
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


def parse_key_values(text: str, name: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` as OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS write it."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{name}: {item.strip()!r} is not key=value")
        pairs[unquote(key.strip())] = unquote(value.strip())
    return pairs
