"""The code style CI enforces is the one `make lint` shows: ruff lint and format."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.stack.layout import REPO_ROOT

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("args", [["check", "--output-format", "concise"], ["format", "--check"]])
def test_ruff(args: list[str]) -> None:
    # Tracked files: what a clone has, whatever else lies in a working tree.
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *args, *tracked],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
