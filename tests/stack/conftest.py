from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.stack.make_run import MakeRun

StartMakeRun = Callable[..., MakeRun]


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[StartMakeRun]:
    """Start ``python -m services.stack`` on free ports; nothing of it outlives the test."""
    runs: list[MakeRun] = []

    def start(**kwargs: object) -> MakeRun:
        run = MakeRun.start(tmp_path / f"run-{len(runs)}", **kwargs)  # type: ignore[arg-type]
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill_everything()
