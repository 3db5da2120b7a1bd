"""Entry point: ``python -m services.gateway``."""

from __future__ import annotations

import os


def main() -> None:
    from services.common.logging import configure_logging
    from services.gateway.settings import GatewaySettings

    settings = GatewaySettings()
    configure_logging(
        "gateway", settings.log_level, settings.log_format, trace_ids=settings.tracing_enabled
    )
    # Checked once before gunicorn forks: a bad module stops the boot here, with
    # its name, instead of in every web worker.
    from services.contract import CatalogueError, load_catalogue

    try:
        load_catalogue(settings.job_modules)
    except CatalogueError as exc:
        import structlog

        structlog.get_logger("longhaul.gateway").error("bad job modules", error=str(exc))
        raise SystemExit(2) from None
    # Likewise the credential files: a bad one stops the boot here, not in every worker.
    from services.gateway.auth.verifier import check_auth_files

    try:
        check_auth_files(settings)
    except ValueError as exc:
        import structlog

        structlog.get_logger("longhaul.gateway").error("bad authentication file", error=str(exc))
        raise SystemExit(2) from None
    if settings.prometheus_multiproc_dir is not None:
        from services.gateway.server import prepare_multiproc_dir

        prepare_multiproc_dir(settings.prometheus_multiproc_dir)
        # prometheus_client picks its storage when first imported, in this process
        # and in the forked workers: the variable must exist before that import.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.prometheus_multiproc_dir)
    from services.gateway.server import GatewayServer

    GatewayServer(settings).run()


if __name__ == "__main__":
    main()
