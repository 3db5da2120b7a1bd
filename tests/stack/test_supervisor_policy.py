"""The supervisor's restart policy, against a fake process and a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.stack.processes import ProcessSpec
from services.stack.state import prepare_state_dir
from services.stack.supervisor import RestartBackoff, Supervisor, describe_exit

pytestmark = pytest.mark.unit


@dataclass
class FakeProcess:
    name: str = "worker-1"
    spec: ProcessSpec = field(default_factory=lambda: ProcessSpec("worker-1", [], {}))
    starts: int = 1
    running: bool = True
    code: int | None = None
    leftovers_killed: int = 0

    def alive(self) -> bool:
        return self.running

    def returncode(self) -> int | None:
        return None if self.running else self.code

    def start(self) -> FakeProcess:
        self.running, self.code = True, None
        self.starts += 1
        return self

    def kill_leftovers(self) -> None:
        self.leftovers_killed += 1

    def die(self, code: int) -> None:
        self.running, self.code = False, code


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def supervised() -> tuple[Supervisor, FakeProcess, Clock, list[str]]:
    lines: list[str] = []
    clock = Clock()
    supervisor = Supervisor(lambda _source, line: lines.append(line), clock=clock)
    process = FakeProcess()
    supervisor.watch(process)  # type: ignore[arg-type]
    supervisor.tick()  # no ready URL: ready at once
    return supervisor, process, clock, lines


def crash_and_restart(supervisor: Supervisor, process: FakeProcess, clock: Clock) -> float:
    """Let the process die at once, run the clock to its restart; returns the delay."""
    process.die(1)
    supervisor.tick()
    delay = supervisor._children[0].restart_at - clock.now  # type: ignore[operator]
    clock.now += delay - 0.01
    supervisor.tick()
    assert not process.running, "restarted before its delay"
    clock.now += 0.01
    supervisor.tick()
    assert process.running
    return delay


def test_delays_double_from_half_a_second_up_to_thirty() -> None:
    supervisor, process, clock, _ = supervised()
    delays = [crash_and_restart(supervisor, process, clock) for _ in range(9)]
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_a_child_that_stayed_up_a_minute_starts_again_from_the_first_delay() -> None:
    supervisor, process, clock, _ = supervised()
    for _ in range(4):
        crash_and_restart(supervisor, process, clock)
    clock.now += RestartBackoff().reset_after_s
    assert crash_and_restart(supervisor, process, clock) == 0.5


def test_each_exit_is_logged_with_its_cause_and_the_next_delay() -> None:
    supervisor, process, clock, lines = supervised()
    clock.now += 12.5
    process.die(-9)
    supervisor.tick()
    assert lines[-1] == "worker-1 was killed by SIGKILL after 12.5 s up; restarting in 0.5 s"
    assert process.leftovers_killed == 1
    clock.now += 0.5
    supervisor.tick()
    assert lines[-1] == "worker-1: restart 1"
    process.die(3)
    supervisor.tick()
    assert lines[-1] == (
        "worker-1 exited with code 3 before it was ready (2 exits in a row: CrashLoopBackOff); "
        "restarting in 1 s"
    )


def test_exit_descriptions() -> None:
    assert describe_exit(-15) == "was killed by SIGTERM"
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(-200) == "was killed by signal 200"


def test_fresh_state_dir_removes_the_database_files_only(tmp_path: Path) -> None:
    state = tmp_path / "new" / "state"
    db = state / "devserver.sqlite3"
    assert prepare_state_dir(state, db, fresh=True) == []
    assert state.is_dir()
    for name in ("devserver.sqlite3", "devserver.sqlite3-wal", "other.txt"):
        (state / name).write_text("x")
    assert prepare_state_dir(state, db, fresh=False) == []
    removed = prepare_state_dir(state, db, fresh=True)
    assert sorted(p.name for p in removed) == ["devserver.sqlite3", "devserver.sqlite3-wal"]
    assert [p.name for p in state.iterdir()] == ["other.txt"]
