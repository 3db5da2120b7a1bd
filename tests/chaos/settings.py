"""Configuration of a chaos run, built once by its entry point (the CLI or a test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Target = Literal["processes", "k8s"]


class ChaosSettings(BaseSettings):
    """One chaos run. Each flag can also be set as LONGHAUL_CHAOS_<FLAG> (LONGHAUL_CHAOS_JOBS)."""

    model_config = SettingsConfigDict(
        env_prefix="LONGHAUL_CHAOS_",
        extra="ignore",
        frozen=True,
        cli_kebab_case=True,
        cli_prog_name="python -m tests.chaos",
    )

    target: Target = Field(
        default="processes", description="processes: a local stack; k8s: pods of a release."
    )
    jobs: int = Field(default=1000, ge=1, le=100_000, description="Pipeline jobs to submit.")
    workers: int = Field(default=3, ge=2, le=32, description="Local worker processes.")
    web_concurrency: int = Field(default=2, ge=2, le=16, description="Local gunicorn workers.")
    ttl: float = Field(
        default=3.0,
        ge=1,
        le=3600,
        description="Worker lease (s). Local: the workers' lease; k8s: the release's "
        "worker.leaseTtlSeconds. The completion deadline allows twice this.",
    )
    duration: float = Field(
        default=60.0, gt=0, le=86_400, description="Fault window (s); submissions spread over it."
    )
    fault_window: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        description="Faults are spread over the first this-many seconds (default: the whole "
        "duration). A soak puts them early, then runs untouched past every timeout.",
    )
    submit_share: float = Field(
        default=0.85,
        gt=0,
        le=1,
        description="Submissions are spread over this share of the duration, so the last "
        "faults still meet jobs in flight.",
    )
    worker_kills: int = Field(default=10, ge=0, description="SIGKILL / delete of a worker.")
    gateway_kills: int = Field(default=3, ge=0, description="SIGKILL / delete of a gateway.")
    gunicorn_kills: int = Field(
        default=3,
        ge=0,
        description="SIGKILL of one gunicorn worker process (processes only; 0 for k8s).",
    )
    resonate_kills: int = Field(
        default=0,
        ge=0,
        description="SIGKILL of the dev Resonate server, restarted on the same port and SQLite "
        "file / delete of the Resonate server pod (its StatefulSet brings it back).",
    )
    resonate_recovery_bound: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="A Resonate-server kill must be recovered from (server ready and every "
        "worker listening again) within this many seconds.",
    )
    restart_delay: float = Field(
        default=1.0, ge=0, le=60, description="Pause before a killed process is replaced."
    )
    max_step_delay: float = Field(
        default=0.5, ge=0, le=10, description="Each job's step_delay_s is drawn from [0, this]."
    )
    max_values: int = Field(default=8, ge=1, le=1000, description="Values per job: 1..this.")
    grace: float = Field(
        default=3.0,
        ge=0,
        le=600,
        description="Slack on top of window + 2*ttl + a job's own run time (3 steps).",
    )
    dispatch_retry: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="Extra time (s) for a task offered to a worker that died before claiming "
        "it, or while no stream was open: the Resonate server offers it again only after its "
        "retry timer (tasks.retry_timeout: 5 s in the chart and the local stack, 30 s on a "
        "server left at its default). Jobs finishing in it are 'late', not lost.",
    )
    concurrency: int = Field(default=64, ge=1, le=1024, description="HTTP requests in flight.")
    submit_budget: float = Field(
        default=60.0, gt=0, le=3600, description="Per job: how long a submission is retried."
    )
    poll_wait: float = Field(default=5.0, ge=0, le=30, description="?wait= of each status read.")
    long_poll_clients: int = Field(
        default=4, ge=0, le=256, description="Long-poll probe clients (0: no probe)."
    )
    long_poll_wait: float = Field(
        default=3.0, gt=0.5, le=15, description="Longest ?wait= of the long-poll probe."
    )
    resubmit_sample: int = Field(
        default=20, ge=0, description="Completed jobs resubmitted with the same key after the run."
    )
    max_run: float = Field(
        default=1800.0, gt=0, description="Hard bound on the whole run (s), whatever happens."
    )
    seed: int | None = Field(default=None, description="Seed of the workload and fault plan.")
    gateway_url: str | None = Field(default=None, description="k8s: the gateway's URL.")
    resonate_url: str | None = Field(
        default=None,
        description="k8s: the Resonate server's URL (ledger reads); processes: use this server "
        "instead of starting a dev server (resonate kills then cannot be injected).",
    )
    resonate_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the Resonate server, if it has auth on (prefer the env "
        "variable LONGHAUL_CHAOS_RESONATE_TOKEN to a flag).",
    )
    namespace: str = Field(default="longhaul", description="k8s: the release's namespace.")
    release: str = Field(default="longhaul", description="k8s: the Helm release name.")
    kubeconfig: Path | None = Field(
        default=None, description="k8s: kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."
    )
    kube_context: str | None = Field(default=None, description="k8s: kubeconfig context.")
    pod_ready_timeout: float = Field(
        default=300.0, gt=0, description="k8s: bound on waiting for a deleted pod's workload."
    )
    webhooks: bool = Field(
        default=False,
        description="processes: submit every job with notify to a receiver on 127.0.0.1 and "
        "check each is delivered, signed, at least once (tests/chaos/webhook_sink.py).",
    )
    webhook_wait: float = Field(
        default=45.0, ge=0, le=3600, description="After the load, how long webhooks may take."
    )
    report: Path | None = Field(default=None, description="Also write the JSON report here.")
    log_dir: Path | None = Field(default=None, description="processes: where the stack logs go.")

    @model_validator(mode="before")
    @classmethod
    def _k8s_defaults(cls, data: Any) -> Any:
        # Pods are killed whole: unless asked for explicitly (an error below),
        # a k8s run plans no gunicorn-worker kills rather than failing on the default.
        if isinstance(data, dict) and data.get("target") == "k8s":
            data.setdefault("gunicorn_kills", 0)
        return data

    @model_validator(mode="after")
    def _target_fits(self) -> ChaosSettings:
        if self.target == "k8s":
            if not self.gateway_url or not self.resonate_url:
                raise ValueError("--target k8s needs --gateway-url and --resonate-url")
            if self.gunicorn_kills:
                raise ValueError("--gunicorn-kills is processes-only: a pod is deleted whole")
            if self.webhooks:
                raise ValueError("--webhooks is processes-only: the receiver is on 127.0.0.1")
        return self

    @model_validator(mode="after")
    def _faults_inside_the_run(self) -> ChaosSettings:
        if self.fault_window is not None and self.fault_window > self.duration:
            raise ValueError("--fault-window cannot be longer than --duration")
        return self

    @property
    def token(self) -> str | None:
        return self.resonate_token.get_secret_value() if self.resonate_token else None

    def fault_counts(self) -> dict[str, int]:
        return {
            "worker_kill": self.worker_kills,
            "gunicorn_worker_kill": self.gunicorn_kills,
            "gateway_kill": self.gateway_kills,
            "resonate_kill": self.resonate_kills,
        }
