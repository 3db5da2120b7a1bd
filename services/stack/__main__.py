"""``make run``: dev server + gateway + workers on loopback, logs interleaved.

A child that dies is restarted with back-off (``services.stack.supervisor``), as
a Deployment or StatefulSet would restart it; Ctrl-C or SIGTERM stops all.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from services.stack.layout import AUTH_VARIABLES
from services.stack.local import LocalStack
from services.stack.processes import LineSink
from services.stack.resonate_auth import dev_auth
from services.stack.settings import StackSettings
from services.stack.state import id_secret, prepare_state_dir
from services.stack.supervisor import SOURCE, Supervisor

COLORS = {"devserver": "35", "gateway": "36"}
WORKER_COLORS = ("32", "33", "34", "31")


def _sink(tty: bool) -> LineSink:
    lock = threading.Lock()

    def emit(name: str, line: str) -> None:
        color = COLORS.get(name) or WORKER_COLORS[sum(map(ord, name)) % len(WORKER_COLORS)]
        prefix = f"\x1b[{color}m{name:>9} |\x1b[0m" if tty else f"{name:>9} |"
        with lock:
            sys.stdout.write(f"{prefix} {line}\n")
            sys.stdout.flush()

    return emit


def gateway_auth_env(
    settings: StackSettings, base_env: dict[str, str], sink: LineSink
) -> dict[str, str]:
    """What make run tells the gateway about authentication, said loudly."""
    env = {}
    if "LONGHAUL_ID_SECRET" not in base_env:
        env["LONGHAUL_ID_SECRET"] = id_secret(settings.id_secret_file)
    if settings.api_keys_file is not None:
        env["LONGHAUL_AUTH_API_KEYS_FILE"] = str(settings.api_keys_file)
        sink(SOURCE, f"authentication: API keys from {settings.api_keys_file}")
    elif not any(name in base_env for name in AUTH_VARIABLES):
        env["LONGHAUL_AUTH_MODE"] = "none"
        for line in AUTH_OFF_BANNER:
            sink(SOURCE, line)
    return env


AUTH_OFF_BANNER = (
    "!" * 78,
    "!! AUTHENTICATION IS OFF: anyone who reaches the gateway can submit, read and",
    "!! cancel every job (all in tenant 'default'). This is make run's default, for",
    "!! local development only. To turn it on, create keys and name the file:",
    "!!   .venv/bin/python -m services.gateway.keys new --tenant acme --file .longhaul/api-keys",
    "!!   LONGHAUL_AUTH_API_KEYS_FILE=.longhaul/api-keys make run",
    "!" * 78,
)


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
    supervisor = Supervisor(sink)
    server_env: dict[str, str] = {}
    client_env: dict[str, str] = {}
    if settings.resonate_auth:
        auth = dev_auth(settings.auth_dir)
        server_env, client_env = auth.server_env(), auth.client_env()
        sink(
            SOURCE,
            f"Resonate auth on: public key {auth.public_key} (the server's), private key "
            f"{auth.private_key} (gateway and workers mint from it). A token for curl: "
            f"{auth.mint_command()}",
        )
    try:
        if settings.resonate_url is None:
            for path in prepare_state_dir(
                settings.state_dir, settings.devserver_db, fresh=settings.fresh
            ):
                sink(SOURCE, f"fresh start: removed {path}")
            sink(
                SOURCE,
                f"dev server state: {settings.devserver_db} (start from empty with make run-fresh)",
            )
            stack.start_devserver(
                settings.devserver_port,
                db_path=settings.devserver_db,
                retry_timeout_ms=settings.devserver_retry_timeout_ms,
                wait=False,
                **server_env,
            )
            supervisor.watch_all(stack.processes())
            # Workers that start before the dev server answers would sit in
            # the SDK's reconnect back-off for seconds after it does.
            supervisor.run(stopping, until=supervisor.all_ready)
        else:
            stack.use_resonate(str(settings.resonate_url))
            sink(SOURCE, f"state lives in the Resonate server at {stack.resonate_url}")
        if not stopping.is_set():
            stack.start_gateway(
                settings.port,
                web_concurrency=settings.web_concurrency,
                **client_env,
                **gateway_auth_env(settings, base_env, sink),
            )
            for i in range(settings.workers):
                stack.add_worker(metrics_port=settings.worker_metrics_base_port + i, **client_env)
            supervisor.watch_all(p for p in stack.processes() if p is not stack.devserver)
            supervisor.run(stopping, until=supervisor.all_ready)
        if not stopping.is_set():
            sink(
                SOURCE,
                f"Longhaul is up: {stack.gateway_url} (API docs at /docs), "
                f"Resonate at {stack.resonate_url}. Ctrl-C stops everything.",
            )
            sink(SOURCE, metrics_line(settings, stack.gateway_url, stack.resonate_url))
            supervisor.run(stopping)
        return 0
    except OSError as exc:
        sink(SOURCE, f"start-up failed: {exc}")
        return 1
    finally:
        stack.stop()
        sink(SOURCE, "stopped")


def metrics_line(settings: StackSettings, gateway_url: str, resonate_url: str) -> str:
    first, last = settings.worker_metrics_base_port, settings.worker_metrics_base_port
    last += settings.workers - 1
    workers = f"workers at 127.0.0.1:{first}..{last}/metrics" if settings.workers else "no workers"
    if settings.resonate_url is not None:
        # The real server serves its metrics on a port of its own (9090 by default).
        return f"Prometheus metrics: gateway {gateway_url}/metrics, {workers}"
    return (
        f"Prometheus metrics: gateway {gateway_url}/metrics, {workers}, dev Resonate server "
        f"{resonate_url}/metrics (resonate_request_total: what each client action costs it)"
    )


if __name__ == "__main__":
    sys.exit(main())
