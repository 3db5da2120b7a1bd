"""Helpers for the chaos tests."""

from __future__ import annotations

from pathlib import Path


def log_tails(log_dir: Path, lines: int = 15) -> str:
    """The end of every process's log, for an assertion message when a chaos run fails."""
    parts = []
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"----- {log.name} -----\n" + "\n".join(tail))
    return "\n".join(parts)
