"""Helpers for the chaos tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def log_tails(log_dir: Path, lines: int = 15) -> str:
    """The end of every process's log, for an assertion message when a chaos run fails."""
    parts = []
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"----- {log.name} -----\n" + "\n".join(tail))
    return "\n".join(parts)


def emit_report(report: dict, path: Path | None) -> int:
    """Print a run's JSON report (and write it to ``path``); the exit status it means."""
    text = json.dumps(report, indent=2)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    sys.stdout.write(text + "\n")
    return 0 if report["ok"] else 1
