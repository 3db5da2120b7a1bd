"""The machine the numbers come from, and the tools the benchmark installs itself.

Tools: ``wrk`` and ``redis-server`` from Debian (``apt-get install``, root
only), ``py-spy`` from PyPI into the project's venv (through the uv the
bootstrap installed). Each is installed only when missing; a tool that cannot
be had turns the phases needing it off, with the reason in the report.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _run(argv: list[str], timeout: float = 300) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return proc.returncode, proc.stdout


def _version(argv: list[str]) -> str:
    _code, out = _run(argv, timeout=20)  # wrk --version exits 1
    return out.strip().splitlines()[0] if out.strip() else "?"


def ensure_apt(packages: dict[str, str], log) -> dict[str, str | None]:
    """{binary: package}: install the missing ones; return {binary: path or None}."""
    missing = {b: p for b, p in packages.items() if shutil.which(b) is None}
    if missing:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            log(f"cannot install {sorted(missing.values())}: apt-get needs root")
        else:
            log(f"installing {' '.join(sorted(set(missing.values())))} from Debian (apt-get)")
            code, out = _run(["apt-get", "update", "-qq"], timeout=300)
            if code == 0:
                code, out = _run(
                    [
                        "apt-get",
                        "install",
                        "-y",
                        "-qq",
                        "--no-install-recommends",
                        *sorted(set(missing.values())),
                    ],
                    timeout=600,
                )
            if code != 0:
                log(f"apt-get failed: {out[-500:]}")
    return {b: shutil.which(b) for b in packages}


def ensure_py_spy(log) -> str | None:
    venv_bin = Path(sys.executable).parent
    exe = venv_bin / "py-spy"
    if exe.exists():
        return str(exe)
    uv = REPO / ".tools" / "uv" / "bin" / "uv"
    if uv.exists():
        log("installing py-spy into the venv (uv pip install py-spy)")
        code, out = _run(
            [str(uv), "pip", "install", "--python", sys.executable, "py-spy"], timeout=300
        )
    else:
        log("installing py-spy into the venv (pip install py-spy)")
        code, out = _run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], timeout=300)
    if code != 0:
        log(f"py-spy install failed: {out[-500:]}")
    return str(exe) if exe.exists() else shutil.which("py-spy")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def busy_seconds() -> float:
    """CPU seconds spent non-idle by the whole machine (all CPUs) since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def background_load(seconds: float = 1.0) -> float:
    """Share of the machine's CPUs busy (0..1) while this process sleeps: other work running."""
    b0, t0 = busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return (busy_seconds() - b0) / ((time.monotonic() - t0) * (os.cpu_count() or 1))


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (
        "resonate-sdk",
        "fastapi",
        "starlette",
        "uvicorn",
        "gunicorn",
        "pydantic",
        "aiohttp",
        "uvloop",
        "httptools",
        "celery",
        "kombu",
        "redis",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _git_head() -> str:
    code, out = _run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], timeout=10)
    head = out.strip() if code == 0 else "?"
    code, out = _run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "services"], timeout=10
    )
    return head + (" (services/ modified)" if code == 0 and out.strip() else "")


def machine(tools: dict[str, str | None]) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _mem_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "os": _os_name(),
        "git_head": _git_head(),
        "packages": _package_versions(),
        "tools": {
            "wrk": _version(["wrk", "--version"]).split(" [")[0] if tools.get("wrk") else None,
            "redis-server": _redis_version() if tools.get("redis-server") else None,
            "py-spy": _version([tools["py-spy"], "--version"]) if tools.get("py-spy") else None,
        },
        "background_cpu_share_before": round(background_load(1.0), 3),
    }


def _redis_version() -> str:
    line = _version(["redis-server", "--version"])  # "Redis server v=7.0.15 sha=..."
    found = [part for part in line.split() if part.startswith("v=")]
    return f"redis-server {found[0][2:]}" if found else line


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()
