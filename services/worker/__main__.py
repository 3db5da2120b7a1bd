"""Entry point: ``python -m services.worker``."""

from __future__ import annotations

import asyncio


def main() -> None:
    from services.common.logging import configure_logging
    from services.worker.runner import run_worker
    from services.worker.settings import WorkerSettings

    settings = WorkerSettings()
    configure_logging("worker", settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
