"""Entry point: ``python -m services.worker``."""

from __future__ import annotations

import asyncio


def main() -> None:
    import sys

    from services.common.logging import configure_logging
    from services.contract import CatalogueError
    from services.worker.runner import run_worker
    from services.worker.settings import WorkerSettings

    settings = WorkerSettings()
    configure_logging(
        "worker", settings.log_level, settings.log_format, trace_ids=settings.tracing_enabled
    )
    try:
        asyncio.run(run_worker(settings))
    except CatalogueError as exc:
        import structlog

        structlog.get_logger("longhaul.worker").error("bad job modules", error=str(exc))
        sys.exit(2)


if __name__ == "__main__":
    main()
