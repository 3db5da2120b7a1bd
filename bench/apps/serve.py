"""Serve a baseline ASGI app exactly the way the gateway is served.

``python -m bench.apps.serve module:factory`` runs gunicorn with
``services.gateway.server.gunicorn_options`` (same ``LonghaulUvicornWorker``,
worker count, keep-alive, bind from the gateway's env variables) around
``factory(settings)`` instead of the gateway's ``create_app``. Only the
application differs, so a ratio between two of them is the cost of the app.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from services.common.logging import configure_logging
from services.gateway.server import GatewayServer
from services.gateway.settings import GatewaySettings


class BaselineServer(GatewayServer):
    def __init__(self, settings: GatewaySettings, factory: str) -> None:
        self.factory = factory
        super().__init__(settings)

    def load(self) -> Any:
        module, _, name = self.factory.partition(":")
        return getattr(importlib.import_module(module), name)(self.settings)


def main() -> None:
    factory = sys.argv[1]
    # No prometheus multiprocess dir: none of the baselines has metrics; and no
    # authentication, which none of them has either (Longhaul runs without it too).
    settings = GatewaySettings(auth_mode="none").model_copy(
        update={"prometheus_multiproc_dir": None}
    )
    configure_logging("bench-" + factory.split(".")[-1].split(":")[0], "WARNING", "json")
    BaselineServer(settings, factory).run()


if __name__ == "__main__":
    main()
