"""Entry point: ``python -m services.devserver``."""

from __future__ import annotations

import asyncio
import signal


async def _main() -> int:
    import structlog

    from services.common.logging import configure_logging
    from services.devserver.auth import AuthConfigError
    from services.devserver.server import serve
    from services.devserver.settings import DevServerSettings
    from services.devserver.store import StoreError

    settings = DevServerSettings()
    configure_logging("devserver", settings.log_level, settings.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(settings, stop)
    except AuthConfigError as exc:
        # The real server exits when its public key cannot be loaded.
        structlog.get_logger("longhaul.devserver").error("cannot load the auth key", error=str(exc))
        return 2
    except StoreError as exc:
        # A locked or foreign database file is a boot failure, not a traceback.
        structlog.get_logger("longhaul.devserver").error("cannot open the state", error=str(exc))
        return 2
    return 0


def main() -> None:
    raise SystemExit(asyncio.run(_main()))


if __name__ == "__main__":
    main()
