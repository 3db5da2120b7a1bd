"""``make run``'s state directory: what survives from one run to the next."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: SQLite writes these next to the database while it is open (WAL or rollback mode).
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def prepare_state_dir(state_dir: Path, devserver_db: Path, *, fresh: bool) -> list[Path]:
    """Create ``state_dir``; with ``fresh``, delete the dev server's database first.

    Only the files the dev server owns are deleted, never the directory: it is
    configurable and may hold other things. Returns the files removed.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    removed: list[Path] = []
    if fresh:
        for path in (devserver_db, *(Path(f"{devserver_db}{s}") for s in _SQLITE_COMPANIONS)):
            if path.exists():
                path.unlink()
                removed.append(path)
    return removed


def id_secret(path: Path) -> str:
    """The gateway's LONGHAUL_ID_SECRET for make run: generated once, then kept.

    Job ids derived from Idempotency-Keys depend on it, so it lives as long as
    the dev server's state beside it (make run-fresh keeps it; it does no harm).
    """
    if path.exists():
        value = path.read_text().strip()
        if len(value) >= 32:
            return value
    value = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value
