"""Where a run happens: a LocalStack of processes, or the pods of a Helm release."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.stack.local import LocalStack
from tests.chaos import webhook_sink
from tests.chaos.actions.base import FaultInjector
from tests.chaos.actions.pods import PodFaults
from tests.chaos.actions.processes import ProcessFaults
from tests.chaos.probes.procs import children
from tests.chaos.settings import ChaosSettings


class TargetUnavailable(RuntimeError):
    """The run could not start: no stack came up, or no cluster is configured."""


@dataclass
class Target:
    name: str
    gateway_url: str
    resonate_url: str
    injector: FaultInjector
    token: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: Local targets: every live process, gunicorn's workers included.
    processes: Callable[[], list[LiveProcess]] | None = None


@dataclass(frozen=True)
class LiveProcess:
    name: str
    pid: int
    ready_url: str | None = None


def stack_processes(stack: LocalStack) -> list[LiveProcess]:
    found = []
    for process in stack.processes():
        if process.pid is None or not process.alive():
            continue
        found.append(LiveProcess(process.name, process.pid, process.spec.ready_url))
        if process is stack.gateway:
            found.extend(
                LiveProcess(f"{process.name}-worker", pid) for pid in children(process.pid)
            )
    return found


@contextmanager
def local_target(
    settings: ChaosSettings,
    log_dir: Path,
    rng: random.Random,
    worker_ttl: float | None = None,
) -> Iterator[Target]:
    """Dev server + gunicorn gateway + workers (ledger on); every process stopped on exit.

    ``worker_ttl`` gives the workers another lease than the one the deadline
    assumes: only a test of the checker wants that (a lease past the deadline).
    """
    base_env = {**os.environ, "LONGHAUL_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    stack = LocalStack(base_env, log_dir=log_dir)
    ttl = worker_ttl if worker_ttl is not None else settings.ttl

    def spawn_worker() -> Any:
        return stack.add_worker(ttl_s=ttl, LONGHAUL_WORKER_LEDGER="true", **webhook_sink.WORKER_ENV)

    try:
        try:
            if settings.resonate_url:
                stack.use_resonate(settings.resonate_url)
            else:
                stack.start_devserver(db_path=log_dir / "devserver.sqlite3")
            stack.start_gateway(
                web_concurrency=settings.web_concurrency, **webhook_sink.GATEWAY_ENV
            )
            for _ in range(settings.workers):
                spawn_worker()
            stack.wait_ready()
        except (RuntimeError, TimeoutError) as exc:
            raise TargetUnavailable(
                f"the local stack did not start: {exc} (logs: {log_dir})"
            ) from exc
        injector = ProcessFaults(
            stack,
            spawn_worker=spawn_worker,
            web_concurrency=settings.web_concurrency,
            restart_delay_s=settings.restart_delay,
            rng=rng,
        )
        yield Target(
            "processes",
            stack.gateway_url,
            stack.resonate_url,
            injector,
            details={"log_dir": str(log_dir), "worker_ttl_s": ttl},
            processes=lambda: stack_processes(stack),
        )
    finally:
        stack.stop(timeout=10)


def k8s_target(settings: ChaosSettings, rng: random.Random) -> Target:
    """An installed release, reached through URLs the caller provides (NodePort, port-forward)."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config(
                config_file=str(settings.kubeconfig) if settings.kubeconfig else None,
                context=settings.kube_context,
            )
        except (config.ConfigException, OSError) as exc:
            raise TargetUnavailable(f"no Kubernetes configuration: {exc}") from exc
    injector = PodFaults(
        client.CoreV1Api(),
        client.AppsV1Api(),
        namespace=settings.namespace,
        release=settings.release,
        rng=rng,
        ready_timeout_s=settings.pod_ready_timeout,
    )
    assert settings.gateway_url and settings.resonate_url  # checked by ChaosSettings
    return Target(
        "k8s",
        settings.gateway_url.rstrip("/"),
        settings.resonate_url.rstrip("/"),
        injector,
        token=settings.token,
        details={"namespace": settings.namespace, "release": settings.release},
    )
