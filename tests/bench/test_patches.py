"""The benchmark's patches stay in step with the code they measure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PATCHES = sorted((REPO / "bench" / "patches").glob("*.patch"))
ABLATIONS = sorted((REPO / "bench" / "patches" / "ablations").glob("*.patch"))


def _applies(patch: Path, *flags: str) -> bool:
    argv = ["git", "apply", "--check", *flags, str(patch)]
    return subprocess.run(argv, cwd=REPO, capture_output=True).returncode == 0


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.stem)
def test_each_fix_is_either_applied_or_applicable(patch: Path) -> None:
    # A patch that does neither is reported as "does not apply" and its
    # before/after silently drops out of the report.
    assert _applies(patch, "--reverse") or _applies(patch)


@pytest.mark.parametrize("patch", ABLATIONS, ids=lambda p: p.stem)
def test_each_ablation_applies_to_the_tree(patch: Path) -> None:
    assert _applies(patch)


def test_there_are_patches_to_check() -> None:
    assert PATCHES and ABLATIONS
