"""Run one document's examples in order, as a reader would in one terminal.

Commands run in ``bash`` in a scratch directory that holds the repository's
top-level entries as symlinks (so ``.venv/bin/python -m services...`` works and
what a command writes — keys, ``.longhaul/`` — stays in the scratch directory),
with ``HOME`` there too. ``localhost:8000`` is the session's stack. A
``make run`` command starts that stack (``python -m services.stack``, what
``make run`` runs after ``make env``) with the variables it names, on free
ports, its state in the scratch directory; a session that uses the API without
one shares a plain ``make run`` with the other documents that have none.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from services.stack.processes import free_port
from tests.docs.blocks import ROOT, Block, console_commands
from tests.docs.shapes import Bindings, Mismatch, match_answer

PORT = re.compile(r"\b(?:localhost|127\.0\.0\.1):8000\b")
ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.S)
COMMAND_TIMEOUT_S = 30
STACK_READY_TIMEOUT_S = 90


def _program(text: str) -> list[str]:
    """The words of a command after its leading ``VAR=value`` assignments."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return []
    while words and ASSIGNMENT.match(words[0]):
        words.pop(0)
    return words


class Stack:
    """``python -m services.stack`` with one worker and one gunicorn worker, to spare CPU."""

    def __init__(self, scratch: Path, env: dict[str, str], owner: object = None) -> None:
        self.owner = owner
        self.port = free_port()
        self.log = scratch / f"stack-{self.port}.log"
        full_env = {
            **os.environ,
            **env,
            "PORT": str(self.port),
            "LONGHAUL_STACK_DEVSERVER_PORT": str(free_port()),
            "LONGHAUL_STACK_WORKER_METRICS_BASE_PORT": str(free_port()),
            "LONGHAUL_STACK_STATE_DIR": str(scratch / ".longhaul"),
            "LONGHAUL_STACK_WORKERS": "1",
            "LONGHAUL_STACK_WEB_CONCURRENCY": "1",
            "LONGHAUL_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
        full_env.pop("RESONATE_URL", None)
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.stack"],
                cwd=ROOT,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STACK_READY_TIMEOUT_S
        while "Longhaul is up" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise Mismatch(f"make run did not come up:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def terminate(self) -> None:
        """Ask it to stop (it drains); ``stop`` waits for that."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Session:
    def __init__(self, scratch: Path, shared_stack: Callable[[], Stack]) -> None:
        self.scratch = scratch
        self.shared_stack = shared_stack
        for entry in ROOT.iterdir():
            if entry.name not in {".git", ".longhaul", "site"}:
                (scratch / entry.name).symlink_to(entry)
        self.env: dict[str, str] = {}
        self.bindings = Bindings()
        self.stack: Stack | None = None

    def own_stack(self) -> Stack | None:
        """The stack this session's ``make run`` started, if any (not the shared one)."""
        return self.stack if self.stack is not None and self.stack.owner is self else None

    # -- running -----------------------------------------------------------

    def _bash_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LONGHAUL_")}
        return {**env, **self.env, "HOME": str(self.scratch)}

    def _prepare(self, text: str) -> str:
        text = self.bindings.substitute(text)
        if PORT.search(text):
            if self.stack is None:
                self.stack = self.shared_stack()
            text = PORT.sub(f"127.0.0.1:{self.stack.port}", text)
        return text

    def _bash(self, script: str, where: str) -> str:
        result = subprocess.run(
            ["bash", "-c", "set -eo pipefail\n" + script],
            cwd=self.scratch,
            env=self._bash_env(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise Mismatch(
                f"{where}: exit {result.returncode}\n$ {script}\n{result.stdout}{result.stderr}"
                + (f"\n--- stack log ---\n{self.stack.tail()}" if self.stack else "")
            )
        return result.stdout

    def _make_run(self, text: str) -> None:
        """``VAR=value ... make run``: (re)start the stack with those variables."""
        words = shlex.split(text, comments=True)
        env: dict[str, str] = {}
        while words and (assignment := ASSIGNMENT.match(words[0])):
            env[assignment["name"]] = self._resolve(assignment["value"])
            words.pop(0)
        if self.own_stack() is not None:
            self.stack.stop()
        self.stack = Stack(self.scratch, env, owner=self)

    def _resolve(self, value: str) -> str:
        """As the reader's shell and make run see a value: ``~`` and relative paths."""
        parts = []
        for part in value.split(":"):
            part = str(self.scratch) + part[1:] if part.startswith("~") else part
            if part and not part.startswith("/") and (self.scratch / part).exists():
                part = str(self.scratch / part)
            parts.append(part)
        return ":".join(parts)

    def run_block(self, block: Block) -> None:
        if block.write_to is not None:
            target = Path(self._resolve(block.write_to))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body)
        elif block.lang == "python":
            script = self.scratch / f"block-{block.line}.py"
            script.write_text(block.body)
            self._bash(f"{sys.executable} {shlex.quote(str(script))}", block.where)
        elif block.lang == "console":
            for number, command in enumerate(console_commands(block), start=1):
                self.run_command(command.text, command.expected, f"{block.where} #{number}")
        else:
            self._bash(self._prepare(block.body), block.where)

    def run_command(self, text: str, expected: list[str], where: str) -> None:
        if _program(text) == ["make", "run"]:
            self._make_run(self.bindings.substitute(text))
            return
        text = self._prepare(text)
        if assignment := ASSIGNMENT.match(text):
            name = assignment["name"]
            self.env[name] = self._bash(f'{text}\nprintf %s "${name}"', where)
            return
        actual = self._bash(text, where)
        try:
            match_answer(self.bindings, expected, actual, where)
        except Mismatch as exc:
            raise Mismatch(f"{exc}\n$ {text}") from None
