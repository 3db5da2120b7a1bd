"""Load generators: wrk (closed loop) and the open-loop asyncio client (a subprocess).

wrk is C and uses a fraction of the CPU a Python client would need for the
same request rate, which matters when it shares two cores with the system under
test. Its CPU time is measured and reported next to every result.

wrk opens all its connections at once, and gunicorn's workers share one listening
socket: a single burst is often accepted by one worker alone, which then serves
every connection for the whole run while the other idles. So wrk runs up to four
threads whose starts are ~20 ms apart (``lua/common.lua``), each opening its share
of the connections in its own burst.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LUA_DIR = Path(__file__).with_name("lua")


def _script(name: str, threads: int) -> str:
    """The named Lua script with the JSON reporter appended (wrk takes one -s).

    ``WRK_THREADS`` comes first: a thread's ``init`` runs before the next thread
    exists, so the scripts cannot count the threads themselves.
    """
    parts = [LUA_DIR / "common.lua", LUA_DIR / name, LUA_DIR / "report.lua"]
    text = f"WRK_THREADS = {threads}\n" + "\n".join(part.read_text() for part in parts)
    fd, path = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".lua")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def threads_for(connections: int) -> int:
    return next(t for t in (4, 2, 1) if connections % t == 0)


def wrk(
    url: str,
    script: str,
    args: list[str],
    *,
    connections: int,
    duration_s: float,
    timeout_s: float = 10,
) -> dict[str, Any]:
    """Run wrk once; return throughput, latency percentiles (ms) and error counts."""
    threads = threads_for(connections)
    path = _script(script, threads)
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        path,
        url,
        "--",
        *args,
    ]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=duration_s + timeout_s + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    finally:
        os.unlink(path)
    return parse_result(out, connections, time.monotonic() - started)


def parse_result(out: str, connections: int, wall: float) -> dict[str, Any]:
    """wrk's output (the ``WRKJSON`` line ``lua/report.lua`` writes) as one result record."""
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk produced no result: {out[-2000:]}")
    raw = json.loads(line[len("WRKJSON ") :])
    seconds = raw["duration_us"] / 1e6
    errors = sum(
        raw[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return {
        "connections": connections,
        "requests": raw["requests"],
        "duration_s": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "errors": errors,
        "error_detail": {k: raw[k] for k in raw if k.endswith("errors") or k == "timeouts"},
        # Answers whose body lacked the expected text (None: bodies were not checked).
        "wrong": raw["wrong"] if raw.get("wrong", -1) >= 0 else None,
        "latency_ms": {
            "mean": round(raw["latency_mean_us"] / 1000, 3),
            "p50": round(raw["percentiles_us"]["50"] / 1000, 3),
            "p90": round(raw["percentiles_us"]["90"] / 1000, 3),
            "p95": round(raw["percentiles_us"]["95"] / 1000, 3),
            "p99": round(raw["percentiles_us"]["99"] / 1000, 3),
            "p99.9": round(raw["percentiles_us"]["99.9"] / 1000, 3),
            "max": round(raw["latency_max_us"] / 1000, 3),
        },
        "wall_s": round(wall, 3),
    }


class ChildCpu:
    """CPU seconds used by reaped children (wrk, the open-loop client) since ``start()``."""

    def __init__(self) -> None:
        self._t0 = 0.0

    @staticmethod
    def _now() -> float:
        import resource

        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    def start(self) -> None:
        self._t0 = self._now()

    def stop(self) -> float:
        return round(self._now() - self._t0, 3)


def openloop(params: dict[str, Any], out_path: Path, timeout_s: float) -> dict[str, Any]:
    """Run ``bench.openloop`` in its own process (raised priority); return its JSON result."""
    argv = [sys.executable, "-m", "bench.openloop", json.dumps(params), str(out_path)]
    subprocess.run(argv, check=True, timeout=timeout_s, cwd=Path(__file__).parents[1])
    return json.loads(out_path.read_text())
