"""The whole stack on loopback, as one object: used by make run, tests, chaos and bench."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import mkdtemp

from services.stack.layout import RETRY_TIMEOUT_MS, devserver_spec, gateway_spec, worker_spec
from services.stack.processes import LineSink, ManagedProcess, free_port


@dataclass
class LocalStack:
    base_env: Mapping[str, str]
    log_dir: Path | None = None
    sink: LineSink | None = None
    devserver: ManagedProcess | None = field(default=None, init=False)
    gateway: ManagedProcess | None = field(default=None, init=False)
    workers: list[ManagedProcess] = field(default_factory=list, init=False)
    resonate_url: str = field(default="", init=False)
    gateway_url: str = field(default="", init=False)
    _scratch: list[Path] = field(default_factory=list, init=False)

    def _managed(self, spec_name: str, spec: object) -> ManagedProcess:
        log_path = self.log_dir / f"{spec_name}.log" if self.log_dir else None
        return ManagedProcess(spec, self.sink, log_path)  # type: ignore[arg-type]

    def start_devserver(
        self,
        port: int | None = None,
        *,
        db_path: Path | None = None,
        retry_timeout_ms: int = RETRY_TIMEOUT_MS,
        wait: bool = True,
        **env: str,
    ) -> str:
        """Start the dev server; ``db_path`` keeps its state in that SQLite file.

        ``wait=False`` returns once it is spawned, for a caller that watches
        readiness itself (``make run``'s supervisor).
        """
        port = port or free_port()
        spec = devserver_spec(
            self.base_env, port, db_path=db_path, retry_timeout_ms=retry_timeout_ms, **env
        )
        self.devserver = self._managed("devserver", spec)
        self.resonate_url = f"http://127.0.0.1:{port}"
        self.devserver.start()
        if wait:
            self.devserver.wait_ready()
        return self.resonate_url

    def use_resonate(self, url: str) -> None:
        self.resonate_url = url.rstrip("/")

    def start_gateway(self, port: int | None = None, web_concurrency: int = 2, **env: str) -> str:
        port = port or free_port()
        metrics_dir = Path(mkdtemp(prefix="longhaul-metrics-"))
        self._scratch.append(metrics_dir)
        spec = gateway_spec(
            self.base_env,
            port=port,
            resonate_url=self.resonate_url,
            metrics_dir=metrics_dir,
            web_concurrency=web_concurrency,
            **env,
        )
        self.gateway = self._managed("gateway", spec).start()
        self.gateway_url = f"http://127.0.0.1:{port}"
        return self.gateway_url

    def add_worker(
        self, ttl_s: float | None = None, metrics_port: int | None = None, **env: str
    ) -> ManagedProcess:
        name = f"worker-{len(self.workers) + 1}"
        spec = worker_spec(
            self.base_env,
            name=name,
            resonate_url=self.resonate_url,
            metrics_port=metrics_port or free_port(),
            ttl_s=ttl_s,
            **env,
        )
        worker = self._managed(name, spec).start()
        self.workers.append(worker)
        return worker

    def processes(self) -> list[ManagedProcess]:
        return [p for p in (self.devserver, self.gateway, *self.workers) if p is not None]

    def wait_ready(self, timeout: float = 30.0) -> None:
        for process in self.processes():
            process.wait_ready(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Workers drain first, then the gateway, then the dev server."""
        for process in reversed(self.processes()):
            process.stop(timeout=timeout)
        for path in self._scratch:
            shutil.rmtree(path, ignore_errors=True)
        self._scratch.clear()
