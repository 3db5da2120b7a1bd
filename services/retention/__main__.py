"""Entry point: ``python -m services.retention`` (one run, then exit; the chart's CronJob).

Exit status: 0 after a run (complete or stopped by ``max_runtime_s``), 1 when
the database failed the run, 2 on bad configuration. The last log line is the
run's summary (JSON); ``LONGHAUL_RETENTION_TEXTFILE`` also writes it for
node_exporter's textfile collector (no Pushgateway is assumed).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psycopg
import structlog
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from pydantic import ValidationError

from services.common.logging import configure_logging


def write_textfile(path: Path, summary: dict[str, object], ok: bool) -> None:
    registry = CollectorRegistry()
    deleted = Gauge(
        "longhaul_retention_last_run_deleted",
        "Rows the last retention run deleted (what: groups, adverts, promises, tasks).",
        ["what"],
        registry=registry,
    )
    for what in ("groups", "adverts", "promises", "tasks"):
        deleted.labels(what).set(float(summary.get(what, 0) or 0))  # type: ignore[arg-type]
    Gauge(
        "longhaul_retention_last_run_seconds", "Duration of the last run.", registry=registry
    ).set(float(summary.get("seconds", 0) or 0))  # type: ignore[arg-type]
    Gauge(
        "longhaul_retention_last_run_success", "1 if the last run succeeded.", registry=registry
    ).set(1 if ok else 0)
    Gauge(
        "longhaul_retention_last_run_timestamp_seconds",
        "When the last run ended (Unix time).",
        registry=registry,
    ).set(time.time())
    write_to_textfile(str(path), registry)


def main() -> int:
    from services.retention.run import RunFailed, RunSummary, run
    from services.retention.settings import RetentionCommandSettings

    try:
        settings = RetentionCommandSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        configure_logging("retention", "INFO", "json")
        structlog.get_logger("longhaul.retention").error("bad configuration", error=str(exc))
        return 2
    configure_logging("retention", settings.log_level, settings.log_format)
    log = structlog.get_logger("longhaul.retention")
    policy = settings.policy()
    log.info(
        "retention run starting",
        retention_ms=policy.default_ms,
        tenants_ms=dict(policy.tenants),
        adverts_ms=policy.advert_grace_ms,
        batch_ids=settings.batch_ids,
    )
    ok, summary = True, RunSummary()
    try:
        run(settings, summary=summary)
    except (RunFailed, psycopg.Error) as exc:
        ok = False
        log.error("retention run failed", error=str(exc), error_type=type(exc).__name__)
    result = summary.as_dict()
    if settings.textfile is not None:
        write_textfile(settings.textfile, result, ok)
    log.info("retention run finished", ok=ok, **result)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
