"""Suite-wide rules: every test belongs to exactly one tier marker; a Resonate server by URL."""

from __future__ import annotations

import os

import pytest

TIERS = {"unit", "integration", "chaos", "soak", "e2e", "chart", "images"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--resonate-url",
        default=os.environ.get("RESONATE_URL") or None,
        help="Run the integration, chaos and soak tiers against this Resonate server instead "
        "of starting the dev server (default: $RESONATE_URL). Tests that must kill the dev "
        "server skip. Give that server the stacks' retry timeout "
        "(RESONATE_TASKS__RETRY_TIMEOUT=5000, services/stack/layout.py): tests that wait out "
        "a lost delivery assume it.",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tiers = {mark.name for mark in item.iter_markers()} & TIERS
        if len(tiers) != 1:
            raise pytest.UsageError(f"{item.nodeid} must carry exactly one tier marker of {TIERS}")


@pytest.fixture(scope="session")
def resonate_url(pytestconfig: pytest.Config) -> str | None:
    """The Resonate server the process tiers use; None: each stack starts its own dev server."""
    url = pytestconfig.getoption("--resonate-url")
    return url.rstrip("/") if url else None


@pytest.fixture
def own_devserver(resonate_url: str | None) -> None:
    """For tests that kill or restart the Resonate server: only a dev server of our own."""
    if resonate_url is not None:
        pytest.skip(f"kills the Resonate server; a given one ({resonate_url}) is not ours to kill")
