"""Suite-wide rules: every test belongs to exactly one tier marker."""

from __future__ import annotations

import pytest

TIERS = {"unit", "integration", "chaos", "soak", "e2e", "chart", "images"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tiers = {mark.name for mark in item.iter_markers()} & TIERS
        if len(tiers) != 1:
            raise pytest.UsageError(f"{item.nodeid} must carry exactly one tier marker of {TIERS}")
