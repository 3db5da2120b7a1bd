"""One retention run against the Resonate server's Postgres: batches until the table's end.

Each batch is its own short transaction (``SET LOCAL lock_timeout`` and
``statement_timeout``), so the run can be killed at any moment: what committed
is whole groups, what did not is rolled back by Postgres. A batch that times
out on a lock is retried after the pause; ``max_failed_batches`` in a row fail
the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import psycopg
import structlog

from services.common.retention import RetentionPolicy
from services.retention import sql
from services.retention.settings import RetentionCommandSettings

log = structlog.get_logger("longhaul.retention")


@dataclass
class RunSummary:
    groups: int = 0
    adverts: int = 0
    promises: int = 0
    tasks: int = 0
    batches: int = 0
    failed_batches: int = 0
    seconds: float = 0.0
    complete: bool = False  # reached the end of the table
    index_created: bool = False
    deleted_per_s: float = field(default=0.0)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class RunFailed(RuntimeError):
    pass


def ensure_origin_index(conn: psycopg.Connection, timeout_ms: int) -> bool:
    """Create the origin index if missing (CONCURRENTLY: the server's writes go on).

    A concurrent build waits for every transaction older than itself, so it is
    bounded: when it times out the run goes on without the index (slower, same
    result) and the next run drops the invalid leftover and tries again.
    """
    if conn.execute(sql.INVALID_ORIGIN_INDEX, {"name": sql.ORIGIN_INDEX}).fetchone():
        log.warning("dropping an invalid origin index left by an interrupted build")
        conn.execute(sql.DROP_ORIGIN_INDEX)
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (sql.ORIGIN_INDEX,)).fetchone()
    if exists and exists[0]:
        return False
    started = time.perf_counter()
    conn.execute(f"SET statement_timeout = {int(timeout_ms)}")
    try:
        conn.execute(sql.CREATE_ORIGIN_INDEX)
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable) as exc:
        log.warning(
            "origin index not built in time; this run goes on without it",
            error=type(exc).__name__,
            timeout_ms=timeout_ms,
        )
        return False
    finally:
        conn.execute("RESET statement_timeout")
    log.info(
        "created the origin index (an addition to the server's schema)",
        index=sql.ORIGIN_INDEX,
        seconds=round(time.perf_counter() - started, 3),
    )
    return True


def run(
    settings: RetentionCommandSettings,
    *,
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    sleep: Callable[[float], None] = time.sleep,
    summary: RunSummary | None = None,
) -> RunSummary:
    """Filled in as batches commit: a run that fails still reports what it deleted."""
    policy: RetentionPolicy = settings.policy()
    summary = summary if summary is not None else RunSummary()
    started = time.perf_counter()
    if not policy.deletes_anything:
        log.info("retention is 0 everywhere: nothing to delete")
        summary.complete = True
        return summary
    with psycopg.connect(
        settings.database_url.get_secret_value(),
        autocommit=True,
        application_name="longhaul-retention",
        connect_timeout=10,
    ) as conn:
        if settings.create_index:
            summary.index_created = ensure_origin_index(conn, settings.index_timeout_ms)
        cursor = ""
        failed_in_a_row = 0
        while time.perf_counter() - started < settings.max_runtime_s:
            params = sql.batch_params(policy, cursor, settings.batch_ids, clock_ms())
            try:
                with conn.transaction():
                    conn.execute(f"SET LOCAL lock_timeout = {int(settings.lock_timeout_ms)}")
                    conn.execute(
                        f"SET LOCAL statement_timeout = {int(settings.statement_timeout_ms)}"
                    )
                    row = conn.execute(sql.BATCH, params).fetchone()
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
                failed_in_a_row += 1
                summary.failed_batches += 1
                log.warning(
                    "batch rolled back, retried after the pause",
                    error=type(exc).__name__,
                    cursor=cursor,
                    failed_in_a_row=failed_in_a_row,
                )
                if failed_in_a_row >= settings.max_failed_batches:
                    summary.seconds = round(time.perf_counter() - started, 3)
                    raise RunFailed(f"{failed_in_a_row} batches in a row failed") from exc
                sleep(settings.pause_s)
                continue
            failed_in_a_row = 0
            assert row is not None
            last_id, groups, adverts, promises, tasks = row
            summary.batches += 1
            summary.groups += groups
            summary.adverts += adverts
            summary.promises += promises
            summary.tasks += tasks
            if promises:
                log.debug("batch deleted", groups=groups, promises=promises, tasks=tasks)
            if last_id is None:
                summary.complete = True
                break
            cursor = last_id
            if settings.pause_s:
                sleep(settings.pause_s)
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.deleted_per_s = round(summary.promises / summary.seconds, 1) if summary.seconds else 0
    return summary
