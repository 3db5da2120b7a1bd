"""The gateway app served over real HTTP in this process: uvicorn on a thread, loopback only.

Raw-socket tests and schemathesis talk HTTP to it; the protocol is the one
gunicorn's workers run (``GuardedHttpToolsProtocol``) and the Resonate is the
in-process one of the other unit tests, with the real worker jobs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from services.gateway.edge.limits import GuardedHttpToolsProtocol, HeaderLimits
from services.gateway.settings import GatewaySettings
from services.stack.processes import free_port
from tests.support import create_app, gateway_settings, in_process_resonate, worker_deps


def gateway_app(**overrides: Any) -> FastAPI:
    """The app with the test settings and the in-process Resonate with the worker jobs.

    The jobs run in this process, so no worker advertises its kinds: submits
    do not wait for one (``require_workers=False``) unless told otherwise.
    """
    settings = gateway_settings(**{"require_workers": False, **overrides})
    return create_app(settings, resonate_factory=in_process_resonate(worker_deps()))


@contextmanager
def live_gateway(
    app: FastAPI | None = None, **overrides: Any
) -> Iterator[tuple[str, GatewaySettings]]:
    """Yield ``(base_url, settings)`` of a gateway served on a loopback port."""
    if app is None:
        app = gateway_app(**overrides)
    settings: GatewaySettings = app.state.settings
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=GuardedHttpToolsProtocol.with_limits(HeaderLimits.from_settings(settings)),
        loop="asyncio",
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_keep_alive=settings.keepalive_s,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live gateway did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", settings
    finally:
        server.should_exit = True
        thread.join(timeout=10)
