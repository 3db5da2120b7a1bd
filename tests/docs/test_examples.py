"""Every shell and Python example of the README and docs/ runs against a live stack.

Each document is one session (tests/docs/session.py): its blocks in order,
each answer compared by shape with the one shown (tests/docs/shapes.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT, documentation_files, read_blocks
from tests.docs.session import Session

pytestmark = pytest.mark.integration

DOCUMENTS = [p for p in documentation_files() if any(b.runs for b in read_blocks(p))]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    session = Session(tmp_path)
    try:
        yield session
    finally:
        session.close()


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run_and_answer_as_shown(document: Path, session: Session) -> None:
    for block in read_blocks(document):
        if block.runs or block.write_to is not None:
            session.run_block(block)
