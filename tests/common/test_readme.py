"""The configuration tables (docs/configuration.md) are generated from the settings classes."""

from __future__ import annotations

import pytest

from scripts.settings_table import current, render

pytestmark = pytest.mark.unit


def test_configuration_table_matches_the_settings() -> None:
    assert current() == render(), "run: .venv/bin/python -m scripts.settings_table --write"
