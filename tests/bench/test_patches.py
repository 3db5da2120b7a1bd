"""The benchmark's patches stay in step with the code they measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.phases import PATCH_DIR, patch_state

pytestmark = pytest.mark.unit

PATCHES = sorted(PATCH_DIR.glob("*.patch"))
ABLATIONS = sorted((PATCH_DIR / "ablations").glob("*.patch"))


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.stem)
def test_each_fix_is_either_applied_or_applicable(patch: Path) -> None:
    # A patch that does neither is reported as "does not apply" and its
    # before/after silently drops out of the report.
    assert patch_state(patch) in ("applies", "already applied")


@pytest.mark.parametrize("patch", ABLATIONS, ids=lambda p: p.stem)
def test_each_ablation_applies_to_the_tree(patch: Path) -> None:
    assert patch_state(patch) == "applies"


def test_there_are_patches_to_check() -> None:
    assert PATCHES and ABLATIONS
