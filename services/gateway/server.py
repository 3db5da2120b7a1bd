"""gunicorn, configured in code, serving ``create_app(settings)`` with uvicorn workers."""

from __future__ import annotations

import gc
import logging
import shutil
from pathlib import Path
from typing import Any, ClassVar

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from services.gateway.edge.limits import GuardedHttpToolsProtocol, HeaderLimits
from services.gateway.settings import GatewaySettings


class LonghaulUvicornWorker(UvicornWorker):
    # Each request is logged once, as JSON, by RequestContext.
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": GuardedHttpToolsProtocol,
        "access_log": False,
        "server_header": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # UvicornWorker gives uvicorn's loggers gunicorn's handlers, which
        # JsonGunicornLogger emptied, and stops propagation: their warnings
        # ("Invalid HTTP request received.") came out as bare text through
        # logging's last resort. Through the root handler they are JSON lines.
        for name in ("uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            logger.handlers[:] = []
            logger.propagate = True

    @classmethod
    def configured(cls, settings: GatewaySettings) -> type[LonghaulUvicornWorker]:
        """This worker with the header limits of ``settings`` (see ``limits.py``).

        gunicorn builds the worker from a class, in each forked process, and
        uvicorn builds the protocol from a class per connection: the limits
        ride on the classes.
        """
        protocol = GuardedHttpToolsProtocol.with_limits(HeaderLimits.from_settings(settings))
        kwargs = {**cls.CONFIG_KWARGS, "http": protocol}
        return type(cls.__name__, (cls,), {"CONFIG_KWARGS": kwargs, "__module__": cls.__module__})


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
        "worker_class": LonghaulUvicornWorker.configured(settings),
        "graceful_timeout": int(settings.graceful_timeout_s),
        # A worker that stops heartbeating for this long is killed and replaced.
        "timeout": max(30, int(settings.graceful_timeout_s) + 10),
        "keepalive": settings.keepalive_s,
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


#: Young-generation threshold of the collector in each web worker (Python's is 700).
GC_THRESHOLDS = (20_000, 50, 100)


def tune_collector(_worker: Any) -> None:
    """gunicorn's post_worker_init: the app is loaded, requests have not started.

    A request allocates a few hundred short-lived objects, so at Python's
    default thresholds the collector runs every few requests and, with many
    requests in flight, promotes their objects into generations it then
    rescans. Freezing what startup created keeps modules, routes and settings
    out of every collection; a larger young generation collects less often.
    Measured under 64 connections of status reads: ~10% less gateway CPU per
    read (bench/results/report.md).
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


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
        self.cfg.set("post_worker_init", tune_collector)
        if self.settings.prometheus_multiproc_dir is not None:
            self.cfg.set("child_exit", child_exit)

    def load(self) -> Any:
        from services.gateway.app import create_app

        return create_app(
            self.settings, metrics_multiproc_dir=self.settings.prometheus_multiproc_dir
        )
