"""Drive ``python -m services.stack`` (what ``make run`` runs) from a test.

Its output is read on a thread into a list, so a test can wait for a line
without blocking forever; its processes are found in /proc by a marker
variable that every one of them inherits.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.stack.layout import REPO_ROOT
from services.stack.processes import free_port

MARKER_VAR = "LONGHAUL_TEST_MARKER"


def processes_with_marker(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (zombies hold none)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid``, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def is_running(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def children_of(parent: int) -> list[int]:
    kids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            stat = _stat(int(proc.name))
            if stat is not None and stat[1] == parent and stat[0] not in ("Z", "X"):
                kids.append(int(proc.name))
    return kids


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(
        item.decode(errors="replace").split("=", 1) for item in raw.split(b"\0") if b"=" in item
    )


def _component(pid: int) -> str | None:
    """The stack's name for one of its children: devserver, gateway, worker-N."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        env = environ_of(pid)
    except OSError:
        return None
    if b"services.devserver" in cmdline:
        return "devserver"
    if b"services.gateway" in cmdline:
        return "gateway"
    if b"services.worker" in cmdline:
        return env.get("LONGHAUL_WORKER_PID")
    return None


@dataclass
class MakeRun:
    proc: subprocess.Popen[str]
    marker: str
    port: int
    devserver_port: int
    metrics_base_port: int
    state_dir: Path
    lines: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _eof: bool = False

    @classmethod
    def start(cls, tmp_path: Path, *, metrics_base_port: int | None = None, **env: str) -> MakeRun:
        marker = uuid.uuid4().hex
        port, devserver_port = free_port(), free_port()
        metrics_base_port = metrics_base_port or free_port()
        state_dir = tmp_path / "state"
        full_env: Mapping[str, str] = {
            **{k: v for k, v in os.environ.items() if k != "RESONATE_URL"},
            MARKER_VAR: marker,
            "PORT": str(port),
            "LONGHAUL_STACK_DEVSERVER_PORT": str(devserver_port),
            "LONGHAUL_STACK_WORKER_METRICS_BASE_PORT": str(metrics_base_port),
            "LONGHAUL_STACK_WEB_CONCURRENCY": "1",
            "LONGHAUL_STACK_STATE_DIR": str(state_dir),
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.stack"],
            cwd=REPO_ROOT,
            env=dict(full_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        run = cls(proc, marker, port, devserver_port, metrics_base_port, state_dir)
        threading.Thread(target=run._read, daemon=True).start()
        return run

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = 30.0) -> int:
        """Index of the first line from ``after`` on that matches ``pattern``.

        Fails as soon as the stack has exited and all its output is read
        (which is how ``make run`` answered a dead child before it supervised).
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for i in range(after, len(self.lines)):
                    if regex.search(self.lines[i]):
                        return i
                after = max(after, len(self.lines))
                if self._eof:
                    raise AssertionError(
                        f"make run stopped (its output ended) before /{pattern}/:\n" + self.tail()
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no /{pattern}/ in {timeout}s:\n{self.tail()}")
                self._changed.wait(min(left, 0.2))

    def match(self, index: int, pattern: str) -> re.Match[str]:
        found = re.search(pattern, self.lines[index])
        assert found is not None, self.lines[index]
        return found

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.lines[-n:])

    def components(self) -> dict[str, int]:
        """Name -> pid of the stack's direct children (gunicorn's master for the gateway)."""
        found = {}
        for pid in children_of(self.proc.pid):
            name = _component(pid)
            if name is not None:
                found[name] = pid
        return found

    def leftovers(self) -> list[int]:
        return processes_with_marker(f"{MARKER_VAR}={self.marker}")

    def interrupt(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill_everything(self) -> None:
        """Last resort after a failed test: nothing of this run may outlive it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
