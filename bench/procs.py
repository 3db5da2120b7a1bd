"""Processes for the benchmark: started like LocalStack's, logged straight to files.

``FileLoggedProcess`` is ``services.stack.processes.ManagedProcess`` with the
child's output going to its log file directly (no pump thread in this process:
at thousands of log lines a second that thread would compete with the load
generator). ``Usage`` reads CPU time and memory of process trees from /proc.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from services.stack.processes import ManagedProcess, ProcessSpec, _die_with_parent

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class FileLoggedProcess(ManagedProcess):
    def start(self) -> FileLoggedProcess:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running")
        out = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                list(self.spec.argv),
                env=dict(self.spec.env),
                cwd=self.spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        self.starts += 1
        return self


def spawn(spec: ProcessSpec, log_dir: Path | None) -> FileLoggedProcess:
    log = log_dir / f"{spec.name}.log" if log_dir else None
    return FileLoggedProcess(spec, None, log)


# ── /proc readings ─────────────────────────────────────────────────────────


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn workers, celery pool processes)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def tree(pid: int) -> list[int]:
    out = [pid]
    for child in children(pid):
        out.extend(tree(child))
    return out


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of one process, in KiB."""
    out = {"rss_kb": 0, "hwm_kb": 0}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    out["rss_kb"] = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    out["hwm_kb"] = int(line.split()[1])
    except OSError:
        pass
    return out


@dataclass
class Component:
    """A named group of processes (e.g. the gateway: gunicorn master + workers)."""

    name: str
    root_pids: list[int]

    def pids(self) -> list[int]:
        return [pid for root in self.root_pids for pid in tree(root)]


@dataclass
class Usage:
    """CPU seconds per component between ``start()`` and ``stop()``; memory at ``stop()``."""

    components: list[Component]
    _cpu0: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        self._cpu0 = {pid: cpu_seconds(pid) for c in self.components for pid in c.pids()}

    def stop(self) -> dict[str, dict[str, float | int]]:
        out: dict[str, dict[str, float | int]] = {}
        for comp in self.components:
            pids = comp.pids()
            # One reading per process: the total is the sum of the split it reports.
            by_process = [cpu_seconds(pid) - self._cpu0.get(pid, 0.0) for pid in pids]
            mem = [memory_kb(pid) for pid in pids]
            out[comp.name] = {
                "processes": len(pids),
                "cpu_s": round(sum(by_process), 3),
                "cpu_s_by_process": [round(cpu, 3) for cpu in by_process],
                "rss_kb": sum(m["rss_kb"] for m in mem),
                "hwm_kb": sum(m["hwm_kb"] for m in mem),
            }
        return out
