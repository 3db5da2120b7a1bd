"""``python -m services.retention`` against a real PostgreSQL holding the v0.9.8 schema.

Rows are written the way the Resonate server writes them (a root with its task,
timeouts, callbacks, listeners, outgoing messages; steps and markers carrying
``resonate:origin``), then the command runs and every table is checked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.retention import sql
from services.retention.run import RunFailed, run
from services.retention.settings import RetentionCommandSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HOUR = 3_600_000
NOW = int(time.time() * 1000)
TABLES = (
    "promises",
    "promise_timeouts",
    "callbacks",
    "listeners",
    "tasks",
    "task_timeouts",
    "outgoing_execute",
    "outgoing_unblock",
)


def settings(url: str, **extra: Any) -> RetentionCommandSettings:
    values: dict[str, Any] = {
        "LONGHAUL_RETENTION_DATABASE_URL": url,
        "LONGHAUL_RETENTION": "1h",
        "LONGHAUL_RETENTION_ADVERTS": "1h",
        "pause_s": 0,
    }
    return RetentionCommandSettings(**{**values, **extra})


class Seed:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def promise(
        self, promise_id: str, tags: dict[str, str], settled_at: int | None, state: str = "resolved"
    ) -> None:
        self.conn.execute(
            "INSERT INTO promises (id, state, param_data, tags, timeout_at, created_at, settled_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                promise_id,
                state if settled_at is not None else "pending",
                "x" * 100,
                json.dumps(tags),
                NOW + 24 * HOUR,
                NOW - 48 * HOUR,
                settled_at,
            ),
        )
        if settled_at is None:
            self.conn.execute(
                "INSERT INTO promise_timeouts (timeout_at, id) VALUES (%s, %s)",
                (NOW + 24 * HOUR, promise_id),
            )

    def job(
        self,
        job_id: str,
        settled_ago_ms: int | None,
        *,
        steps: int = 2,
        pending_notify: bool = False,
        pending_step: bool = False,
    ) -> list[str]:
        settled = None if settled_ago_ms is None else NOW - settled_ago_ms
        self.promise(
            job_id,
            {
                "resonate:origin": job_id,
                "resonate:target": "poll://any@worker",
                "longhaul:kind": "echo",
            },
            settled,
            state="rejected" if job_id.endswith("failed") else "resolved",
        )
        self.conn.execute(
            "INSERT INTO tasks (id, state, version) VALUES (%s, %s, 3)",
            (job_id, "fulfilled" if settled else "acquired"),
        )
        if settled is None:
            self.conn.execute(
                "INSERT INTO task_timeouts (timeout_at, id, timeout_type, process_id) "
                "VALUES (%s, %s, 1, 'w1')",
                (NOW + 60_000, job_id),
            )
            self.conn.execute(
                "INSERT INTO outgoing_execute (id, version, address) VALUES (%s, 3, 'poll://any@worker')",
                (job_id,),
            )
        self.conn.execute(
            "INSERT INTO listeners (promise_id, address) VALUES (%s, 'poll://uni@gw/1')", (job_id,)
        )
        self.conn.execute(
            "INSERT INTO outgoing_unblock (promise_id, address) VALUES (%s, 'poll://uni@gw/1')",
            (job_id,),
        )
        ids = [job_id]
        step_settled = settled if settled is not None else NOW - 10 * HOUR
        for n in range(1, steps + 1):
            step = f"{job_id}.{n}"
            last = n == steps
            self.promise(
                step,
                {"resonate:origin": job_id, "resonate:branch": job_id},
                None if (pending_step and last) else step_settled,
            )
            self.conn.execute(
                "INSERT INTO callbacks (awaited_id, awaiter_id, ready) VALUES (%s, %s, true)",
                (step, job_id),
            )
            ids.append(step)
        marker = f"{job_id}.exec.1"
        self.promise(marker, {"longhaul:exec": job_id, "resonate:origin": job_id}, step_settled)
        ids.append(marker)
        if pending_notify:
            self.promise(f"{job_id}.notify", {"resonate:origin": job_id}, None)
            ids.append(f"{job_id}.notify")
        return ids


def seed(url: str) -> tuple[psycopg.Connection, Seed]:
    conn = psycopg.connect(url, autocommit=True)
    return conn, Seed(conn)


def rows_of(conn: psycopg.Connection, ids: list[str]) -> dict[str, int]:
    """Rows of every table that belong to ``ids`` (by their promise or task id)."""
    column = {
        "callbacks": "awaited_id",
        "listeners": "promise_id",
        "outgoing_unblock": "promise_id",
    }
    out = {}
    for table in TABLES:
        col = column.get(table, "id")
        query = f"SELECT count(*) FROM {table} WHERE {col} = ANY(%s)"  # noqa: S608 - our names
        if table == "callbacks":
            query += " OR awaiter_id = ANY(%s)"
            out[table] = conn.execute(query, (ids, ids)).fetchone()[0]  # type: ignore[index]
        else:
            out[table] = conn.execute(query, (ids,)).fetchone()[0]  # type: ignore[index]
    return out


def test_a_finished_job_past_retention_goes_whole_and_nothing_else_does(database: str) -> None:
    conn, s = seed(database)
    with conn:
        old = s.job("default.job-old", 2 * HOUR)
        failed = s.job("default.job-oldfailed", 2 * HOUR)
        young = s.job("default.job-young", HOUR // 2)
        running = s.job("default.job-running", None)  # pending root, settled steps
        stepping = s.job("default.job-stepping", 2 * HOUR, pending_step=True)
        notifying = s.job("default.job-notifying", 2 * HOUR, pending_notify=True)
        s.promise("longhaul-advert.echo.v1.aa", {}, NOW - 2 * HOUR)
        s.promise("longhaul-advert.echo.v2.bb", {}, NOW - 10 * 60_000)  # inside its grace
        s.promise("longhaul-advert.sleep.v1.cc", {}, None)  # pending advert
        s.promise("ledger.default.job-old.step.1", {}, NOW - 100 * HOUR)
        s.promise("someone-else", {"resonate:origin": "someone-else"}, NOW - 100 * HOUR)
        conn.execute(
            "INSERT INTO schedules (id, cron, promise_id, promise_timeout, created_at, next_run_at)"
            " VALUES ('s1', '* * * * *', 'p', 1000, 0, 0)"
        )
        before = rows_of(conn, old + failed)
        assert all(before.values()) or before["task_timeouts"] == 0

        summary = run(settings(database, batch_ids=10))

        assert summary.complete and summary.groups == 2 and summary.adverts == 1
        assert summary.promises == len(old) + len(failed) + 1
        assert summary.tasks == 2
        assert set(rows_of(conn, old + failed).values()) == {0}
        assert conn.execute(
            "SELECT count(*) FROM promises WHERE id = 'longhaul-advert.echo.v1.aa'"
        ).fetchone() == (0,)
        for stays in (young, running, stepping, notifying):
            assert rows_of(conn, stays)["promises"] == len(stays), stays
        assert rows_of(conn, running)["task_timeouts"] == 1
        left = {r[0] for r in conn.execute("SELECT id FROM promises WHERE origin IS NULL")}
        assert left == {
            "longhaul-advert.echo.v2.bb",
            "longhaul-advert.sleep.v1.cc",
            "ledger.default.job-old.step.1",
        }
        assert conn.execute("SELECT count(*) FROM schedules").fetchone() == (1,)
        assert conn.execute(
            "SELECT count(*) FROM promises WHERE id = 'someone-else'"
        ).fetchone() == (1,)
        # Longhaul's index, valid, and not rebuilt by the next run.
        assert summary.index_created
        assert conn.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            (sql.ORIGIN_INDEX,),
        ).fetchone() == (True,)
        again = run(settings(database))
        assert not again.index_created and again.promises == 0


def test_per_tenant_overrides(database: str) -> None:
    conn, s = seed(database)
    with conn:
        acme = s.job("acme.job-1", 30 * 60_000)
        default = s.job("default.job-1", 30 * 60_000)
        forever = s.job("keep.job-1", 1000 * HOUR)
        summary = run(settings(database, LONGHAUL_RETENTION_TENANTS="acme=10m,keep=0"))
        assert summary.groups == 1
        assert rows_of(conn, acme)["promises"] == 0
        assert rows_of(conn, default)["promises"] == len(default)
        assert rows_of(conn, forever)["promises"] == len(forever)


def test_two_runs_at_once_neither_fails_nor_deletes_twice(database: str) -> None:
    conn, s = seed(database)
    with conn:
        total = sum(len(s.job(f"default.job-{i:04d}", 2 * HOUR)) for i in range(300))
        results: list[Any] = []

        def one() -> None:
            try:
                results.append(run(settings(database, batch_ids=20, create_index=False)))
            except Exception as exc:  # the test reports it
                results.append(exc)

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert all(not isinstance(r, Exception) for r in results), results
        assert sum(r.promises for r in results) == total
        assert sum(r.groups for r in results) == 300
        assert conn.execute("SELECT count(*) FROM promises").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM tasks").fetchone() == (0,)


def test_a_group_whose_member_is_locked_is_left_whole_and_the_run_fails_bounded(
    database: str,
) -> None:
    conn, s = seed(database)
    with conn:
        held = s.job("default.job-held", 2 * HOUR)
        other = s.job("default.job-other", 2 * HOUR)
        with psycopg.connect(database) as holder:
            # The server updating a step of the group (a row lock) while the run goes.
            holder.execute("UPDATE promises SET value_data = 'v' WHERE id = %s", (held[1],))
            started = time.monotonic()
            with pytest.raises(RunFailed):
                run(
                    settings(
                        database, lock_timeout_ms=200, max_failed_batches=2, index_timeout_ms=1000
                    )
                )
            assert time.monotonic() - started < 20
            holder.rollback()
        # Each batch is all or nothing: the window held both groups, both are still whole.
        assert rows_of(conn, held)["promises"] == len(held)
        assert rows_of(conn, other)["promises"] == len(other)
        summary = run(settings(database))  # the lock is gone: now they go
        assert summary.groups == 2


def test_a_root_another_run_holds_is_skipped_not_waited_for(database: str) -> None:
    conn, s = seed(database)
    with conn:
        held = s.job("default.job-held", 2 * HOUR)
        free = s.job("default.job-free", 2 * HOUR)
        with psycopg.connect(database) as other_run:
            other_run.execute("SELECT 1 FROM promises WHERE id = %s FOR UPDATE", (held[0],))
            summary = run(settings(database, lock_timeout_ms=60_000, create_index=False))
            other_run.rollback()
        assert summary.groups == 1 and summary.failed_batches == 0
        assert rows_of(conn, held)["promises"] == len(held)
        assert rows_of(conn, free)["promises"] == 0


def command(url: str, tmp_path: Path, **env: str) -> subprocess.Popen[bytes]:
    full = {
        **os.environ,
        "LONGHAUL_RETENTION_DATABASE_URL": url,
        "LONGHAUL_RETENTION": "1h",
        "LONGHAUL_LOG_FORMAT": "json",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.retention"],
        env=full,
        stdout=(tmp_path / "out.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


def test_killing_the_command_mid_run_leaves_only_whole_groups(
    database: str, tmp_path: Path
) -> None:
    conn, s = seed(database)
    with conn:
        groups = {
            f"default.job-{i:04d}": s.job(f"default.job-{i:04d}", 2 * HOUR) for i in range(400)
        }
        proc = command(
            database,
            tmp_path,
            LONGHAUL_RETENTION_BATCH_IDS="16",
            LONGHAUL_RETENTION_PAUSE_S="0.02",
        )
        deadline = time.monotonic() + 60
        while True:
            left = conn.execute("SELECT count(*) FROM promises").fetchone()[0]  # type: ignore[index]
            if left < 400 * 4 * 0.8 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        left = conn.execute("SELECT count(*) FROM promises").fetchone()[0]  # type: ignore[index]
        assert 0 < left < 400 * 4, "the kill must land mid-run"
        for root, ids in groups.items():
            counts = rows_of(conn, ids)
            whole = counts["promises"] == len(ids) and counts["tasks"] == 1
            gone = set(counts.values()) == {0}
            assert whole or gone, (root, counts)
        textfile = tmp_path / "retention.prom"
        again = command(database, tmp_path, LONGHAUL_RETENTION_TEXTFILE=str(textfile))
        assert again.wait(60) == 0
        assert conn.execute("SELECT count(*) FROM promises").fetchone() == (0,)
        last = json.loads((tmp_path / "out.log").read_text().strip().splitlines()[-1])
        assert last["event"] == "retention run finished" and last["ok"] is True
        assert last["promises"] == left and last["complete"] is True
        assert f'longhaul_retention_last_run_deleted{{what="promises"}} {float(left)}' in (
            textfile.read_text()
        )


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    proc = command("postgresql://nowhere/x", tmp_path, LONGHAUL_RETENTION="7x")
    assert proc.wait(30) == 2
