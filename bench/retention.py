"""Storage over time with retention on (docs/retention.md).

Two measurements, one phase:

- dev server: a steady load of jobs (root + one step, both settled) against
  ``python -m services.devserver`` with ``LONGHAUL_RETENTION`` shortened to
  ``retention_s``, for several retention periods, sampling its RSS, its file
  (database + WAL) and its promise count every second. With retention working,
  all three stop growing after the first period;
- Postgres: a throwaway cluster (``scripts/postgres.sh``) with the server's
  v0.9.8 schema (``tests/retention/schema_v0_9_8.sql``), preloaded with
  ``retention_pg_promises`` promises of finished jobs (4 per job, a task each),
  plus as many promises of jobs that finished just now (kept), then
  ``services.retention.run`` once without the origin index and once with it
  (after a fresh preload): promises deleted per second.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from bench.phases import Ctx
from services.retention.run import run as retention_run
from services.retention.settings import RetentionCommandSettings
from services.stack.layout import REPO_ROOT, devserver_spec
from services.stack.processes import ManagedProcess, free_port

SCHEMA = REPO_ROOT / "tests" / "retention" / "schema_v0_9_8.sql"
SCRIPT = REPO_ROOT / "scripts" / "postgres.sh"
VERSION = "2026-04-01"
TAGS = {"resonate:target": "poll://any@worker", "longhaul:kind": "echo"}


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _call(session: aiohttp.ClientSession, url: str, kind: str, **data: Any) -> None:
    body = {"kind": kind, "head": {"corrId": "b", "version": VERSION}, "data": data}
    async with session.post(url, json=body) as response:
        await response.read()


async def _devserver_load(ctx: Ctx, url: str, pid: int, ready: str) -> list[dict[str, Any]]:
    cfg = ctx.cfg
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    stop = started + cfg.retention_run_s
    async with aiohttp.ClientSession() as session:

        async def job(n: int) -> None:
            job_id = f"default.job-{n}"
            await _call(
                session,
                url,
                "promise.create",
                id=job_id,
                timeoutAt=2**62,
                param={"data": "x" * 500},
                tags={**TAGS, "resonate:origin": job_id},
            )
            await _call(
                session,
                url,
                "promise.create",
                id=f"{job_id}.1",
                timeoutAt=2**62,
                param={"data": "y" * 500},
                tags={"resonate:origin": job_id},
            )
            for pid_ in (f"{job_id}.1", job_id):
                await _call(session, url, "promise.settle", id=pid_, state="resolved", value={})

        async def sampler() -> None:
            while time.monotonic() < stop:
                async with session.get(ready) as response:
                    body = await response.json()
                samples.append(
                    {
                        "t": round(time.monotonic() - started, 1),
                        "rss_kb": _rss_kb(pid),
                        "file_bytes": body["file_bytes"],
                        "promises": body["promises"],
                        "deleted_groups": body["retention_deleted"]["groups"],
                    }
                )
                await asyncio.sleep(1.0)

        sampling = asyncio.create_task(sampler())
        n, tasks = 0, set()
        interval = 1.0 / cfg.retention_rate
        next_at = time.monotonic()
        while time.monotonic() < stop:
            task = asyncio.create_task(job(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*tasks, return_exceptions=True)
        await sampling
    return samples


def _devserver(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    port = free_port()
    db = ctx.raw / "retention-devserver.sqlite3"
    spec = devserver_spec(
        ctx.env,
        port,
        db_path=db,
        LONGHAUL_RETENTION=f"{int(cfg.retention_s * 1000)}ms",
        LONGHAUL_DEVSERVER_RETENTION_SWEEP_S=str(max(0.5, cfg.retention_s / 4)),
        LONGHAUL_LOG_LEVEL="WARNING",
    )
    proc = ManagedProcess(spec, log_path=ctx.raw / "retention-devserver.log").start()
    try:
        proc.wait_ready(timeout=60)
        assert proc.pid is not None
        base = f"http://127.0.0.1:{port}/"
        samples = asyncio.run(_devserver_load(ctx, base, proc.pid, base + "ready"))
    finally:
        proc.stop(timeout=10)

    def at(t: float, key: str) -> Any:
        return next((s[key] for s in samples if s["t"] >= t), samples[-1][key])

    after = [s for s in samples if s["t"] >= 2 * cfg.retention_s] or samples
    return {
        "retention_s": cfg.retention_s,
        "rate_jobs_s": cfg.retention_rate,
        "run_s": cfg.retention_run_s,
        "samples": samples,
        # After the first period plus a sweep, everything should plateau.
        "at_2_retention": {
            k: at(2 * cfg.retention_s, k) for k in ("rss_kb", "file_bytes", "promises")
        },
        "max_after_2_retention": {
            k: max(s[k] for s in after) for k in ("rss_kb", "file_bytes", "promises")
        },
        "end": {k: samples[-1][k] for k in ("rss_kb", "file_bytes", "promises", "deleted_groups")},
    }


PRELOAD = """
INSERT INTO promises (id, state, param_data, tags, timeout_at, created_at, settled_at)
SELECT j || s.suffix, 'resolved', repeat('x', 100),
       CASE WHEN s.suffix = '' THEN jsonb_build_object('resonate:origin', j,
              'resonate:target', 'poll://any@worker', 'longhaul:kind', 'echo')
            ELSE jsonb_build_object('resonate:origin', j, 'resonate:branch', j) END,
       %(now)s, %(old)s, %(old)s
FROM (SELECT 'default.job-' || lpad(g::text, 8, '0') AS j
      FROM generate_series(%(first)s::int, %(first)s::int + %(jobs)s::int - 1) g) jobs,
     (VALUES (''), ('.1'), ('.2'), ('.exec.1')) AS s(suffix)
"""
PRELOAD_TASKS = """
INSERT INTO tasks (id, state, version) SELECT id, 'fulfilled', 1 FROM promises WHERE origin = id
"""
PRELOAD_CALLBACKS = """
INSERT INTO callbacks (awaited_id, awaiter_id, ready)
SELECT id || '.1', id, true FROM promises WHERE origin = id
"""


def _postgres(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    base = Path(tempfile.mkdtemp(prefix="longhaul-bench-pg-"))
    base.chmod(0o755)
    out: dict[str, Any] = {"promises": cfg.retention_pg_promises, "kept": cfg.retention_pg_promises}
    try:
        url = subprocess.run(
            ["bash", str(SCRIPT), "start", str(base / "pg"), str(free_port())],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout.strip()
        now = int(time.time() * 1000)
        jobs = cfg.retention_pg_promises // 4
        for variant, index in (("without_index", False), ("with_index", True)):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
                conn.execute(SCHEMA.read_text())
                t0 = time.perf_counter()
                # Finished long ago (deleted), then as many finished just now (kept):
                # the kept rows are what a batch without the index scans in vain.
                for first, settled in ((1, now - 86_400_000), (jobs + 1, now)):
                    conn.execute(
                        PRELOAD,
                        {"now": now + 86_400_000, "old": settled, "jobs": jobs, "first": first},
                    )
                conn.execute(PRELOAD_TASKS)
                conn.execute(PRELOAD_CALLBACKS)
                conn.execute("VACUUM ANALYZE")
                preload_s = time.perf_counter() - t0
            settings = RetentionCommandSettings(
                LONGHAUL_RETENTION_DATABASE_URL=url,
                LONGHAUL_RETENTION="1h",
                pause_s=0,
                create_index=index,
            )
            summary = retention_run(settings)
            out[variant] = {**summary.as_dict(), "preload_s": round(preload_s, 2)}
            ctx.log(f"retention postgres {variant}: {summary.deleted_per_s} promises/s")
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(base / "pg")], timeout=60, check=False)
        shutil.rmtree(base, ignore_errors=True)
    return out


def retention(ctx: Ctx) -> dict[str, Any]:
    result: dict[str, Any] = {"devserver": _devserver(ctx)}
    try:
        result["postgres"] = _postgres(ctx)
    except (subprocess.CalledProcessError, psycopg.Error) as exc:
        ctx.errors.append({"phase": "retention", "system": "postgres", "error": repr(exc)})
    return result
