"""Processes from /proc (Linux): how gunicorn's workers are found, and what each one uses."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _ppid(stat: str) -> int | None:
    # The command name (field 2) is in parentheses and may hold spaces or
    # parentheses itself: the fields after the last ')' are unambiguous.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def children(pid: int, proc: Path = PROC) -> list[int]:
    """Live children of ``pid``: /proc/<pid>/task/*/children, else a scan of ppids."""
    tasks = proc / str(pid) / "task"
    found: set[int] = set()
    readable = False
    for path in tasks.glob("*/children"):
        try:
            found.update(int(p) for p in path.read_text().split())
            readable = True
        except (OSError, ValueError):
            continue
    if readable:
        return sorted(found)
    for stat in proc.glob("[0-9]*/stat"):
        try:
            if _ppid(stat.read_text()) == pid:
                found.add(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return sorted(found)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def rss_bytes(pid: int, proc: Path = PROC) -> int | None:
    """Resident memory of ``pid`` (None once it is gone)."""
    try:
        return int((proc / str(pid) / "statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds(pid: int, proc: Path = PROC) -> float | None:
    """User + system CPU time ``pid`` has used (None once it is gone)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        fields = stat[stat.rfind(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, ValueError, IndexError):
        return None
