"""Start, watch, kill and restart the Longhaul processes on one machine.

Used by ``make run`` and by the integration, chaos and benchmark harnesses, so
every one of them starts the stack the same way. Each child runs in its own
session (one signal reaches it and its children) and, on Linux, dies with its
parent, so nothing is orphaned even when the supervisor itself is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

LineSink = Callable[[str, str], None]
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    os.setsid()
    if sys.platform == "linux":
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    ready_url: str | None = None
    cwd: Path | None = None


@dataclass
class ManagedProcess:
    spec: ProcessSpec
    sink: LineSink | None = None
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    starts: int = field(default=0, init=False)
    _pump: threading.Thread | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> ManagedProcess:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running")
        log_file: IO[bytes] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            list(self.spec.argv),
            env=dict(self.spec.env),
            cwd=self.spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        self.starts += 1
        self._pump = threading.Thread(
            target=self._pump_lines,
            args=(self.proc, log_file),
            name=f"pump-{self.name}",
            daemon=True,
        )
        self._pump.start()
        return self

    def _pump_lines(self, proc: subprocess.Popen[bytes], log_file: IO[bytes] | None) -> None:
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                if log_file is not None:
                    log_file.write(raw)
                    log_file.flush()
                if self.sink is not None:
                    self.sink(self.name, raw.decode(errors="replace").rstrip("\n"))
        finally:
            if log_file is not None:
                log_file.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        if self.spec.ready_url is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with code {self.returncode()} during start")
            if http_ok(self.spec.ready_url):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready at {self.spec.ready_url} after {timeout}s")

    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process's whole session (gunicorn and its workers too)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(5)

    def kill_leftovers(self) -> None:
        """SIGKILL whatever is left in the session of a process that has exited.

        ``signal`` only reaches a live leader; once it is gone its children
        (gunicorn's web workers after the master is SIGKILLed) are still in
        the session and hold the port. The session id cannot be handed to a
        new process while any member remains, so this reaches only them.
        """
        if self.proc is None or self.proc.poll() is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            if not self.wait(timeout):
                self.kill()
        # Children left in the session (none, normally) go too.
        self.kill_leftovers()
        if self._pump is not None:
            self._pump.join(timeout=2)
        return self.proc.returncode

    def wait(self, timeout: float) -> bool:
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def restart(self, ready_timeout: float = 30.0) -> None:
        if self.alive():
            self.stop(timeout=0.1)
        self.start()
        self.wait_ready(ready_timeout)
