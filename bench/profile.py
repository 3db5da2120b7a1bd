"""Sampling profiles of running processes with py-spy, summarised by component.

py-spy attaches from outside (no code change, no restart) and samples the
Python stacks of a process and its children (gunicorn workers) while the load
runs. Each sample is attributed to the *innermost* frame that matches a
category below, so the shares answer "where does this process spend its CPU":
e.g. a sample inside ``logging`` called from the middleware counts as logging.
Idle samples (threads parked in a wait) are dropped.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
from pathlib import Path
from typing import Any

#: (category, substrings of a frame "function (file:line)"), checked innermost frame first.
GATEWAY_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    (
        "thread-pool hops (sync FastAPI dependencies)",
        ("anyio/", "starlette/concurrency.py", "threading.py", "queue.py"),
    ),
    (
        "Resonate SDK client + aiohttp (calls to the Resonate server)",
        ("resonate/", "aiohttp/", "yarl/", "multidict/"),
    ),
    ("per-request log line (structlog + logging)", ("structlog/", "logging/")),
    ("Prometheus metrics", ("prometheus_client/",)),
    (
        "request validation, JSON, pydantic",
        ("pydantic", "json/", "fastapi/encoders", "msgspec", "hashlib"),
    ),
    ("Longhaul gateway code", ("services/",)),
    ("FastAPI + Starlette (routing, dependencies, middleware)", ("fastapi/", "starlette/")),
    ("uvicorn HTTP protocol", ("uvicorn/", "uvicorn_worker/", "httptools")),
    ("event loop + sockets (uvloop/asyncio)", ("asyncio/", "uvloop", "Runner.run")),
]

DEVSERVER_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("state machine: preload() scan of every promise", ("ServerState.preload ",)),
    ("state machine: enqueue_settle() scan of every promise", ("ServerState.enqueue_settle ",)),
    ("state machine: timeout list scans", ("_p_timeout ", "_t_timeout ", "ServerState.tick ")),
    ("state machine: everything else", ("resonate/connections/local.py", "reference_state.py")),
    ("JSON (msgspec)", ("msgspec",)),
    ("dev server HTTP/SSE front", ("services/devserver/",)),
    ("aiohttp server", ("aiohttp/", "yarl/", "multidict/")),
    ("event loop + sockets (asyncio)", ("asyncio/", "Runner.run")),
]

WORKER_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("Resonate SDK (task lifecycle, codec)", ("resonate/",)),
    ("aiohttp client + SSE", ("aiohttp/", "yarl/", "multidict/")),
    ("logging", ("structlog/", "logging/")),
    ("Prometheus metrics", ("prometheus_client/",)),
    ("Longhaul worker code", ("services/",)),
    ("JSON / pydantic", ("msgspec", "json/", "pydantic")),
    ("event loop + sockets (asyncio)", ("asyncio/", "Runner.run")),
]

_IDLE_LEAVES = (
    "EpollSelector.select (selectors.py",
    "Condition.wait (threading.py",
    "Event.wait (threading.py",
    "Queue.get (queue.py",
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py",
)


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    local = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else None


def record(
    pid: int, seconds: float, out: Path, *, subprocesses: bool, rate: int = 200
) -> subprocess.Popen:
    """Start py-spy on ``pid`` for ``seconds``; the caller drives load meanwhile and waits."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed")
    argv = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    if subprocesses:
        argv.append("--subprocesses")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
    return frames, int(count)


def summarise(
    path: Path, categories: list[tuple[str, tuple[str, ...]]], top: int = 12
) -> dict[str, Any]:
    by_category: collections.Counter[str] = collections.Counter()
    by_leaf: collections.Counter[str] = collections.Counter()
    total = 0
    if not path.exists():
        return {"samples": 0, "categories": {}, "top_self": []}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        frames, n = _frames(line)
        if not frames or frames[-1].startswith(_IDLE_LEAVES):
            continue
        total += n
        by_leaf[frames[-1]] += n
        for frame in reversed(frames):
            hit = next((name for name, keys in categories if any(k in frame for k in keys)), None)
            if hit:
                by_category[hit] += n
                break
        else:
            by_category["other"] += n
    share = {k: round(100 * v / total, 1) for k, v in by_category.most_common()} if total else {}
    return {
        "samples": total,
        "categories": share,
        "top_self": [
            {"frame": _short(frame), "pct": round(100 * n / total, 1)}
            for frame, n in by_leaf.most_common(top)
        ]
        if total
        else [],
    }


def _short(frame: str) -> str:
    """``func (…/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py:12)``."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/lib/python3."):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker.startswith("/lib"):
                where = where.split("/", 1)[1]
    return f"{func} ({where})"
