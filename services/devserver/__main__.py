"""Entry point: ``python -m services.devserver``."""

from __future__ import annotations

import asyncio
import signal


async def _main() -> None:
    from services.common.logging import configure_logging
    from services.devserver.server import serve
    from services.devserver.settings import DevServerSettings

    settings = DevServerSettings()
    configure_logging("devserver", settings.log_level, settings.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop)


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
