"""gunicorn, configured in code, serving ``create_app(settings)`` with uvicorn workers."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, ClassVar

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from services.gateway.settings import GatewaySettings


class LonghaulUvicornWorker(UvicornWorker):
    # Each request is logged once, as JSON, by RequestContext.
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": "auto",
        "access_log": False,
        "server_header": False,
    }


class JsonGunicornLogger(glogging.Logger):
    """gunicorn's own lines go through the root handler (our JSON formatter)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.handlers[:] = []
            log.propagate = True
        self.error_log.setLevel(logging.getLogger().level)


def gunicorn_options(settings: GatewaySettings) -> dict[str, Any]:
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.web_concurrency,
        "worker_class": f"{LonghaulUvicornWorker.__module__}.{LonghaulUvicornWorker.__name__}",
        "graceful_timeout": int(settings.graceful_timeout_s),
        # A worker that stops heartbeating for this long is killed and replaced.
        "timeout": max(30, int(settings.graceful_timeout_s) + 10),
        "keepalive": 5,
        "logger_class": f"{JsonGunicornLogger.__module__}.{JsonGunicornLogger.__name__}",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "proc_name": "longhaul-gateway",
        "forwarded_allow_ips": "*",
        # No runtime control socket: the root filesystem is read-only in a pod.
        "control_socket_disable": True,
    }


def prepare_multiproc_dir(path: Path) -> None:
    """Start from an empty directory: stale files from a previous run would be summed in."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class GatewayServer(BaseApplication):
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings).items():
            self.cfg.set(key, value)
        if self.settings.prometheus_multiproc_dir is not None:
            self.cfg.set("child_exit", child_exit)

    def load(self) -> Any:
        from services.gateway.app import create_app

        return create_app(
            self.settings, metrics_multiproc_dir=self.settings.prometheus_multiproc_dir
        )
