"""Process specs for the local stack: dev server, gateway (gunicorn), workers."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from services.stack.processes import ProcessSpec

REPO_ROOT = Path(__file__).resolve().parents[2]


def _python() -> list[str]:
    return [sys.executable, "-m"]


#: The retry timer the chart gives the real Resonate server (its own default is
#: 30 s): a job offered while no worker was connected starts within 5 s. Local
#: runs and tests use the same value so they behave like a deployment.
RETRY_TIMEOUT_MS = 5000


def devserver_spec(
    base_env: Mapping[str, str],
    port: int,
    *,
    db_path: Path | None = None,
    retry_timeout_ms: int = RETRY_TIMEOUT_MS,
    **extra: str,
) -> ProcessSpec:
    """``db_path`` None leaves the dev server's default (state in memory)."""
    env = {
        **base_env,
        "LONGHAUL_DEVSERVER_HOST": "127.0.0.1",
        "LONGHAUL_DEVSERVER_PORT": str(port),
        # The real server's variable, read the same way (integer milliseconds).
        "RESONATE_TASKS__RETRY_TIMEOUT": str(retry_timeout_ms),
        **({"LONGHAUL_DEVSERVER_DB": str(db_path)} if db_path is not None else {}),
        **extra,
    }
    return ProcessSpec(
        name="devserver",
        argv=[*_python(), "services.devserver"],
        env=env,
        ready_url=f"http://127.0.0.1:{port}/health",
        cwd=REPO_ROOT,
    )


#: Setting any of these hands the gateway's authentication to the caller.
AUTH_VARIABLES = ("LONGHAUL_AUTH_MODE", "LONGHAUL_AUTH_API_KEYS_FILE", "LONGHAUL_AUTH_OIDC_ISSUER")


def gateway_spec(
    base_env: Mapping[str, str],
    *,
    port: int,
    resonate_url: str,
    metrics_dir: Path,
    web_concurrency: int = 2,
    name: str = "gateway",
    **extra: str,
) -> ProcessSpec:
    env = {
        **base_env,
        "RESONATE_URL": resonate_url,
        "LONGHAUL_HOST": "127.0.0.1",
        "PORT": str(port),
        "LONGHAUL_WEB_CONCURRENCY": str(web_concurrency),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        **extra,
    }
    if not any(name in env for name in AUTH_VARIABLES):
        # A local stack on loopback (make run, tests, chaos, bench) runs without
        # authentication unless told otherwise, and says so explicitly: the
        # gateway refuses to start when nothing is said.
        env["LONGHAUL_AUTH_MODE"] = "none"
    return ProcessSpec(
        name=name,
        argv=[*_python(), "services.gateway"],
        env=env,
        ready_url=f"http://127.0.0.1:{port}/healthz",
        cwd=REPO_ROOT,
    )


def worker_spec(
    base_env: Mapping[str, str],
    *,
    name: str,
    resonate_url: str,
    metrics_port: int,
    ttl_s: float | None = None,
    **extra: str,
) -> ProcessSpec:
    env = {
        **base_env,
        "RESONATE_URL": resonate_url,
        "LONGHAUL_WORKER_PID": name,
        "LONGHAUL_WORKER_METRICS_HOST": "127.0.0.1",
        "LONGHAUL_WORKER_METRICS_PORT": str(metrics_port),
        **({"LONGHAUL_WORKER_TTL_S": str(ttl_s)} if ttl_s is not None else {}),
        **extra,
    }
    return ProcessSpec(
        name=name,
        argv=[*_python(), "services.worker"],
        env=env,
        ready_url=f"http://127.0.0.1:{metrics_port}/readyz",
        cwd=REPO_ROOT,
    )
