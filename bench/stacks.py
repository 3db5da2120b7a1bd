"""The systems under test, each started fresh on loopback and stopped after use.

- ``LonghaulSystem``: the dev Resonate server (or ``RESONATE_URL``), the gateway
  (gunicorn, ``LONGHAUL_WEB_CONCURRENCY`` workers) and N worker processes, via
  ``services.stack.local.LocalStack`` (optionally from another source tree: the
  patched scratch copy used for before/after measurements).
- ``ReferenceSystem``: the same dev server and workers behind the reference
  gateway (``bench.apps.reference``).
- ``CeilingSystem``: bare constant routes (``bench.apps.ceiling``).
- ``CelerySystem``: redis-server, a Celery worker and the FastAPI + Celery app.

Every gateway-like server runs under ``bench.apps.serve`` or
``services.gateway``, i.e. the same gunicorn options and uvicorn worker class.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import mkdtemp

from bench.procs import Component, FileLoggedProcess, spawn
from services.stack.layout import REPO_ROOT, devserver_spec
from services.stack.local import LocalStack
from services.stack.processes import ManagedProcess, ProcessSpec, free_port

WEB_CONCURRENCY = 2


def _get_json(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def _post_json(url: str, body: dict, headers: Mapping[str, str] | None = None) -> dict:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout:g}s")


class _BenchStack(LocalStack):
    """LocalStack whose processes log to files and may run from another source tree."""

    src_root: Path = REPO_ROOT

    def _managed(self, spec_name: str, spec: ProcessSpec) -> ManagedProcess:  # type: ignore[override]
        spec.cwd = self.src_root
        return spawn(spec, self.log_dir)


@dataclass
class System:
    name: str
    log_dir: Path
    base_env: dict[str, str]
    url: str = ""
    components: list[Component] = field(default_factory=list)

    def start(self) -> System:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def _service_env(base_env: Mapping[str, str]) -> dict[str, str]:
    env = dict(base_env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("LONGHAUL_LOG_FORMAT", "json")
    return env


@dataclass
class LonghaulSystem(System):
    """Dev server (or RESONATE_URL) + gateway + workers. ``gateway_factory`` swaps the gateway."""

    workers: int = 2
    resonate_url: str | None = None
    src_root: Path = REPO_ROOT
    gateway_factory: str | None = None  # "module:create_app" served by bench.apps.serve
    gateway_group_pollers: int = 0  # SSE pollers the gateway opens (reference: one per worker)
    #: The dev server keeps its state in SQLite (journal fsynced per group commit), as `make
    #: run` does; False: in memory, to tell the store's share of a latency from the rest.
    devserver_db: bool = True
    web_concurrency: int = WEB_CONCURRENCY  # gunicorn workers of the gateway
    stack: _BenchStack | None = None

    def start(self) -> LonghaulSystem:
        stack = _BenchStack(_service_env(self.base_env), log_dir=self.log_dir)
        stack.src_root = self.src_root
        self.stack = stack
        if self.resonate_url:
            stack.use_resonate(self.resonate_url)
        else:
            # LocalStack.start_devserver, without waiting for it: gateway and
            # workers import meanwhile (start-up is CPU-bound; they retry).
            port = free_port()
            db = self.log_dir / "devserver.sqlite3" if self.devserver_db else None
            spec = devserver_spec(stack.base_env, port, db_path=db)
            stack.devserver = stack._managed("devserver", spec).start()
            stack.resonate_url = f"http://127.0.0.1:{port}"
        if self.gateway_factory is None:
            stack.start_gateway(web_concurrency=self.web_concurrency)
        else:
            self._start_baseline_gateway(stack)
        for _ in range(self.workers):
            stack.add_worker()
        stack.wait_ready(60)
        self.url = stack.gateway_url
        self._wait_pollers()
        self.components = [Component("gateway", [stack.gateway.pid])]
        if stack.devserver is not None:
            self.components.append(Component("devserver", [stack.devserver.pid]))
        self.components.append(Component("workers", [w.pid for w in stack.workers]))
        return self

    def _start_baseline_gateway(self, stack: _BenchStack) -> None:
        port = free_port()
        env = {
            **stack.base_env,
            "RESONATE_URL": stack.resonate_url,
            "LONGHAUL_HOST": "127.0.0.1",
            "PORT": str(port),
            "LONGHAUL_WEB_CONCURRENCY": str(WEB_CONCURRENCY),
        }
        spec = ProcessSpec(
            name="gateway",
            argv=[sys.executable, "-m", "bench.apps.serve", self.gateway_factory],
            env=env,
            ready_url=f"http://127.0.0.1:{port}/healthz",
            cwd=REPO_ROOT,
        )
        stack.gateway = spawn(spec, self.log_dir).start()
        stack.gateway_url = f"http://127.0.0.1:{port}"

    def _wait_pollers(self) -> None:
        if self.stack is None or self.stack.devserver is None:
            return
        want = {"worker": self.workers}
        if self.gateway_group_pollers:
            want["gateway"] = self.gateway_group_pollers

        def ready() -> bool:
            pollers = _get_json(f"{self.stack.resonate_url}/ready").get("pollers", {})
            return all(pollers.get(group, 0) >= n for group, n in want.items())

        wait_until(ready, 30, f"pollers {want}")

    def worker_metrics_urls(self) -> list[str]:
        assert self.stack is not None
        return [
            w.spec.ready_url.replace("/readyz", "/metrics")
            for w in self.stack.workers
            if w.spec.ready_url
        ]

    def promise_count(self) -> int | None:
        if self.stack is None or self.stack.devserver is None:
            return None
        return int(_get_json(f"{self.stack.resonate_url}/ready").get("promises", 0))

    def completed(self) -> int:
        """Echo jobs the workers have completed (their Prometheus counters, summed)."""
        from bench.client import worker_completed

        return worker_completed(self.worker_metrics_urls())

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop(timeout=10)
            self.stack = None


def _started[S: System](system: S) -> S:
    """``system.start()``; a system that does not come up stops what it started.

    Otherwise its processes would keep using the CPU through every later phase.
    """
    try:
        system.start()
    except BaseException:
        system.stop()
        raise
    return system


def longhaul(log_dir: Path, base_env: dict[str, str], **kw) -> LonghaulSystem:
    return _started(LonghaulSystem("longhaul", log_dir, base_env, **kw))


def reference(log_dir: Path, base_env: dict[str, str], **kw) -> LonghaulSystem:
    return _started(
        LonghaulSystem(
            "reference",
            log_dir,
            base_env,
            gateway_factory="bench.apps.reference:create_app",
            gateway_group_pollers=WEB_CONCURRENCY,
            **kw,
        )
    )


@dataclass
class CeilingSystem(System):
    proc: FileLoggedProcess | None = None

    def start(self) -> CeilingSystem:
        port = free_port()
        env = {
            **_service_env(self.base_env),
            "LONGHAUL_HOST": "127.0.0.1",
            "PORT": str(port),
            "LONGHAUL_WEB_CONCURRENCY": str(WEB_CONCURRENCY),
        }
        spec = ProcessSpec(
            name="ceiling",
            argv=[sys.executable, "-m", "bench.apps.serve", "bench.apps.ceiling:create_app"],
            env=env,
            ready_url=f"http://127.0.0.1:{port}/healthz",
            cwd=REPO_ROOT,
        )
        self.proc = spawn(spec, self.log_dir).start()
        self.proc.wait_ready(60)
        self.url = f"http://127.0.0.1:{port}"
        self.components = [Component("gateway", [self.proc.pid])]
        return self

    def completed(self) -> int:
        return 0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=10)


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


@dataclass
class CelerySystem(System):
    redis_server: str = "redis-server"
    concurrency: int = 2
    poll_backoff: tuple[float, float, float] | None = None  # the gateway's (first, cap, factor)
    redis_url: str = ""
    procs: list[FileLoggedProcess] = field(default_factory=list)
    redis_dir: Path | None = None

    def completed(self) -> int:
        """Tasks with a stored result (one ``celery-task-meta-*`` key each)."""
        from bench.client import celery_completed

        return celery_completed(self.redis_url)

    def start(self) -> CelerySystem:
        redis_port = free_port()
        self.redis_dir = Path(mkdtemp(prefix="bench-redis-"))
        redis = spawn(
            ProcessSpec(
                name="redis",
                argv=[
                    self.redis_server,
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.redis_dir),
                ],
                env=dict(self.base_env),
            ),
            self.log_dir,
        ).start()
        self.procs.append(redis)
        wait_until(lambda: _redis_ping(redis_port), 20, "redis-server")
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        env = {**_service_env(self.base_env), "BENCH_REDIS_URL": self.redis_url}
        if self.poll_backoff:
            env["BENCH_POLL_BACKOFF"] = ",".join(str(x) for x in self.poll_backoff)
        worker = spawn(
            ProcessSpec(
                name="celery-worker",
                argv=[
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "bench.apps.celery_app",
                    "worker",
                    "--pool",
                    "prefork",
                    "--concurrency",
                    str(self.concurrency),
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                env=env,
                cwd=REPO_ROOT,
            ),
            self.log_dir,
        ).start()
        self.procs.append(worker)
        port = free_port()
        gateway = spawn(
            ProcessSpec(
                name="celery-gateway",
                argv=[sys.executable, "-m", "bench.apps.serve", "bench.apps.celery_app:create_app"],
                env={
                    **env,
                    "LONGHAUL_HOST": "127.0.0.1",
                    "PORT": str(port),
                    "LONGHAUL_WEB_CONCURRENCY": str(WEB_CONCURRENCY),
                },
                ready_url=f"http://127.0.0.1:{port}/healthz",
                cwd=REPO_ROOT,
            ),
            self.log_dir,
        ).start()
        self.procs.append(gateway)
        gateway.wait_ready(60)
        self.url = f"http://127.0.0.1:{port}"
        # Ready means a job goes all the way through the worker.
        job = _post_json(f"{self.url}/v1/jobs", {"kind": "echo", "input": {"warm": 1}})
        wait_until(
            lambda: _get_json(f"{self.url}/v1/jobs/{job['id']}?wait=1", 5)["status"] == "succeeded",
            60,
            "celery worker",
        )
        self.components = [
            Component("gateway", [gateway.pid]),
            Component("redis", [redis.pid]),
            Component("workers", [worker.pid]),
        ]
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(timeout=10)
        self.procs.clear()
        if self.redis_dir is not None:
            shutil.rmtree(self.redis_dir, ignore_errors=True)
            self.redis_dir = None


@dataclass
class ExternalSystem(System):
    """A gateway given by URL (``--gateway-url``): driven, not started, not measured inside."""

    def completed(self) -> int:
        raise NotImplementedError("completions of an external gateway are not observable")

    def stop(self) -> None:
        pass


def ceiling(log_dir: Path, base_env: dict[str, str]) -> CeilingSystem:
    return _started(CeilingSystem("ceiling", log_dir, base_env))


def celery(log_dir: Path, base_env: dict[str, str], **kw) -> CelerySystem:
    return _started(CelerySystem("celery", log_dir, base_env, **kw))


__all__ = [
    "CeilingSystem",
    "CelerySystem",
    "LonghaulSystem",
    "ceiling",
    "celery",
    "longhaul",
    "reference",
]
