"""Every shell and Python example of the README and docs/ runs against a live stack.

Each document is one session (tests/docs/session.py): its blocks in order,
each answer compared by shape with the one shown (tests/docs/shapes.py).
Documents without a ``make run`` of their own share one plain stack; a stack a
document started is stopped while the next document runs, and waited for at
the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.environment import ensure_apt
from tests.docs.blocks import ROOT, documentation_files, read_blocks
from tests.docs.session import Session, Stack

pytestmark = pytest.mark.integration

DOCUMENTS = [p for p in documentation_files() if any(b.runs for b in read_blocks(p))]


class Stacks:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.shared: Stack | None = None
        self.stopping: list[Stack] = []

    def get_shared(self) -> Stack:
        if self.shared is None:
            self.shared = Stack(self.scratch, {})
        return self.shared

    def close(self) -> None:
        for stack in [*self.stopping, *([self.shared] if self.shared else [])]:
            stack.stop()


@pytest.fixture(scope="module")
def curl() -> str:
    """The examples are curl sessions: installed from Debian when missing, as make bench does."""
    path = ensure_apt({"curl": "curl"}, lambda line: print(f"docs examples: {line}"))["curl"]  # noqa: T201
    assert path, "curl is needed to run the documented sessions and could not be installed"
    return path


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stacks]:
    stacks = Stacks(tmp_path_factory.mktemp("shared-stack"))
    try:
        yield stacks
    finally:
        stacks.close()


@pytest.fixture
def session(tmp_path: Path, stacks: Stacks, curl: str) -> Iterator[Session]:
    session = Session(tmp_path, stacks.get_shared)
    try:
        yield session
    finally:
        if (own := session.own_stack()) is not None:
            own.terminate()
            stacks.stopping.append(own)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run_and_answer_as_shown(document: Path, session: Session) -> None:
    for block in read_blocks(document):
        if block.runs or block.write_to is not None:
            session.run_block(block)
