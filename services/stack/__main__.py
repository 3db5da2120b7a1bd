"""``make run``: dev server + gateway + workers on loopback, logs interleaved, Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from tempfile import mkdtemp

from services.stack.layout import devserver_spec, gateway_spec, worker_spec
from services.stack.processes import ManagedProcess
from services.stack.settings import StackSettings

COLORS = {"devserver": "35", "gateway": "36"}
WORKER_COLORS = ("32", "33", "34", "31")


def _sink(tty: bool) -> object:
    lock = threading.Lock()

    def emit(name: str, line: str) -> None:
        color = COLORS.get(name) or WORKER_COLORS[sum(map(ord, name)) % len(WORKER_COLORS)]
        prefix = f"\x1b[{color}m{name:>9} |\x1b[0m" if tty else f"{name:>9} |"
        with lock:
            sys.stdout.write(f"{prefix} {line}\n")
            sys.stdout.flush()

    return emit


def main() -> int:
    settings = StackSettings()
    base_env = dict(os.environ)
    base_env.setdefault("LONGHAUL_LOG_FORMAT", "console")
    base_env.setdefault("PYTHONUNBUFFERED", "1")
    sink = _sink(sys.stdout.isatty())
    processes: list[ManagedProcess] = []

    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    try:
        if settings.resonate_url is None:
            dev = ManagedProcess(devserver_spec(base_env, settings.devserver_port), sink)
            processes.append(dev.start())
            dev.wait_ready()
            resonate_url = f"http://127.0.0.1:{settings.devserver_port}"
        else:
            resonate_url = str(settings.resonate_url).rstrip("/")
        metrics_dir = Path(mkdtemp(prefix="longhaul-metrics-"))
        gateway = ManagedProcess(
            gateway_spec(
                base_env,
                port=settings.port,
                resonate_url=resonate_url,
                metrics_dir=metrics_dir,
                web_concurrency=settings.web_concurrency,
            ),
            sink,
        )
        processes.append(gateway.start())
        for i in range(settings.workers):
            worker = ManagedProcess(
                worker_spec(
                    base_env,
                    name=f"worker-{i + 1}",
                    resonate_url=resonate_url,
                    metrics_port=settings.worker_metrics_base_port + i,
                ),
                sink,
            )
            processes.append(worker.start())
        for process in processes:
            process.wait_ready()
        sink(
            "stack",
            f"Longhaul is up: http://127.0.0.1:{settings.port} (API docs at /docs), "
            f"Resonate at {resonate_url}. Ctrl-C stops everything.",
        )
        while not stopping.is_set():
            dead = [p for p in processes if not p.alive()]
            if dead:
                sink("stack", f"{dead[0].name} exited with code {dead[0].returncode()}; stopping")
                return 1
            time.sleep(0.2)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        sink("stack", f"start-up failed: {exc}")
        return 1
    finally:
        # Workers drain first, then the gateway, the dev server last.
        for process in reversed(processes):
            process.stop(timeout=30)
        sink("stack", "stopped")


if __name__ == "__main__":
    sys.exit(main())
