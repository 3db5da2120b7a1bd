"""Configuration of a soak run, built once by its entry point (the CLI or the test)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tests.chaos.settings import ChaosSettings

_UNITS = {"h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def _span(value: Any) -> Any:
    """Also accept "2h", "90m", "1h30m", "45s" (pydantic itself takes seconds and ISO 8601)."""
    if not isinstance(value, str):
        return value
    text = value.replace(" ", "").lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(seconds=float(text))
    parts = _PART.findall(text)
    if parts and "".join(number + unit for number, unit in parts) == text:
        return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    return value


Span = Annotated[timedelta, BeforeValidator(_span)]

#: Submissions run to this share of the duration; the rest lets the last jobs finish.
SUBMIT_SHARE = 0.97


class SoakSettings(BaseSettings):
    """One soak run. Durations take seconds or ISO 8601 / "2h"-style values via timedelta."""

    model_config = SettingsConfigDict(
        env_prefix="LONGHAUL_SOAK_",
        extra="ignore",
        frozen=True,
        cli_kebab_case=True,
        cli_prog_name="python -m tests.soak",
    )

    duration: Span = Field(
        default=timedelta(seconds=400),
        description="How long jobs are submitted (e.g. 400, 2h, PT90M).",
    )
    rate: float = Field(default=1.0, gt=0, le=200, description="Jobs submitted per second.")
    workers: int = Field(default=2, ge=2, le=32, description="Worker processes.")
    web_concurrency: int = Field(default=2, ge=2, le=16, description="gunicorn workers.")
    ttl: float = Field(default=3.0, ge=1, le=3600, description="Worker lease (s).")
    worker_kills: int = Field(default=2, ge=0, description="SIGKILLs of a worker.")
    gateway_kills: int = Field(default=1, ge=0, description="SIGKILLs of the whole gateway.")
    gunicorn_kills: int = Field(default=1, ge=0, description="SIGKILLs of one gunicorn worker.")
    fault_window: Span = Field(
        default=timedelta(seconds=45),
        description="Faults happen in the first this-long of the run, so every process then "
        "runs untouched for longer than aiohttp's 300 s and every other default timeout.",
    )
    dispatch_retry: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="The Resonate server's retry of an unclaimed task (the local stack's 5 s): "
        "jobs finishing within it past the lease bound are late, not lost.",
    )
    max_step_delay: float = Field(default=0.3, ge=0, le=10, description="Per step (s).")
    sample_every: float = Field(default=10.0, gt=0, le=600, description="Sampling period (s).")
    bucket: float = Field(default=60.0, gt=0, le=3600, description="Timeline bucket (s).")
    seed: int | None = Field(default=None, description="Seed of the workload and fault plan.")
    resonate_url: str | None = Field(
        default=None, description="Use this Resonate server instead of starting a dev server."
    )
    report: Path | None = Field(default=None, description="Also write the JSON report here.")
    log_dir: Path | None = Field(default=None, description="Where the stack's logs go.")

    @model_validator(mode="after")
    def _faults_inside(self) -> SoakSettings:
        if self.fault_window > self.duration:
            raise ValueError("--fault-window cannot be longer than --duration")
        return self

    @property
    def duration_s(self) -> float:
        return self.duration.total_seconds()

    def chaos(self) -> ChaosSettings:
        """The chaos run a soak is: few faults early, a steady trickle of jobs throughout."""
        return ChaosSettings(
            jobs=max(1, round(self.duration_s * SUBMIT_SHARE * self.rate)),
            workers=self.workers,
            web_concurrency=self.web_concurrency,
            ttl=self.ttl,
            duration=self.duration_s,
            fault_window=max(1.0, self.fault_window.total_seconds()),
            submit_share=SUBMIT_SHARE,
            worker_kills=self.worker_kills,
            gateway_kills=self.gateway_kills,
            gunicorn_kills=self.gunicorn_kills,
            max_step_delay=self.max_step_delay,
            max_values=8,
            dispatch_retry=self.dispatch_retry,
            concurrency=32,
            resubmit_sample=20,
            max_run=self.duration_s + 600,
            seed=self.seed,
            log_dir=self.log_dir,
            resonate_url=self.resonate_url,
        )
