"""``make run``: dev server + gateway + workers on loopback, logs interleaved, Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from services.stack.local import LocalStack
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

    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    stack = LocalStack(base_env, sink=sink)
    try:
        if settings.resonate_url is None:
            stack.start_devserver(settings.devserver_port)
        else:
            stack.use_resonate(str(settings.resonate_url))
        stack.start_gateway(settings.port, web_concurrency=settings.web_concurrency)
        for i in range(settings.workers):
            stack.add_worker(metrics_port=settings.worker_metrics_base_port + i)
        stack.wait_ready()
        sink(
            "stack",
            f"Longhaul is up: {stack.gateway_url} (API docs at /docs), "
            f"Resonate at {stack.resonate_url}. Ctrl-C stops everything.",
        )
        while not stopping.is_set():
            dead = [p for p in stack.processes() if not p.alive()]
            if dead:
                sink("stack", f"{dead[0].name} exited with code {dead[0].returncode()}; stopping")
                return 1
            time.sleep(0.2)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        sink("stack", f"start-up failed: {exc}")
        return 1
    finally:
        stack.stop()
        sink("stack", "stopped")


if __name__ == "__main__":
    sys.exit(main())
