"""A throwaway PostgreSQL (scripts/postgres.sh) with the v0.9.8 schema, a database per test."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.stack.processes import free_port

REPO = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("schema_v0_9_8.sql")
SCRIPT = REPO / "scripts" / "postgres.sh"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The cluster's URL (database ``postgres``), installed with apt-get when missing."""
    # Not pytest's tmp_path: as root the cluster runs as `postgres`, which must reach it.
    base = Path(tempfile.mkdtemp(prefix="longhaul-pg-"))
    base.chmod(0o755)
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(base / "pg"), str(free_port())],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if started.returncode != 0:
            pytest.fail(f"scripts/postgres.sh start failed:\n{started.stderr}")
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(base / "pg")], timeout=60, check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def database(postgres_server: str) -> Iterator[str]:
    """A fresh database holding the server's schema, as the server creates it at start."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = postgres_server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
    yield url
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
