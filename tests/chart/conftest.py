"""Session fixtures of the offline chart checks.

helm and kubectl come from scripts/tools.py (pinned, into .tools/bin); every
scenario in charts/longhaul/ci/ is rendered once per session and cached.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.chart.helpers import CHART, CI_DIR, ROOT, Helm, load_tools_module


@pytest.fixture(scope="session")
def tools() -> dict[str, Path]:
    """Pinned helm + kubectl in .tools/bin (downloaded once, then reused)."""
    return load_tools_module().ensure()


@pytest.fixture(scope="session")
def helm(tools) -> Helm:
    return Helm(tools["helm"])


@pytest.fixture(scope="session")
def render(helm) -> Callable[[str], list[dict]]:
    """render(scenario) -> rendered objects of ci/<scenario>-values.yaml (cached)."""
    cache: dict[str, list[dict]] = {}

    def _render(scenario: str) -> list[dict]:
        if scenario not in cache:
            cache[scenario] = helm.template([CI_DIR / f"{scenario}-values.yaml"])
        return cache[scenario]

    return _render


@pytest.fixture(scope="session")
def values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(scope="session")
def runtime_env() -> dict[str, set[str]]:
    """Env names per service from the tables of docs/runtime-interface.md."""
    text = (ROOT / "docs" / "runtime-interface.md").read_text()
    out: dict[str, set[str]] = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        title = section.splitlines()[0].strip().lower()
        rows = "\n".join(line for line in section.splitlines() if line.startswith("|"))
        out[title] = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", rows))
    assert out.get("gateway") and out.get("worker"), "runtime-interface.md tables not found"
    return out
