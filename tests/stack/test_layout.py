"""What the local stack hands the dev server."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.stack.layout import devserver_spec

pytestmark = pytest.mark.unit


def test_dev_server_gets_the_charts_retry_timer_and_no_database_by_default() -> None:
    env = devserver_spec({"RESONATE_TASKS__RETRY_TIMEOUT": "30000"}, 8001).env
    assert env["RESONATE_TASKS__RETRY_TIMEOUT"] == "5000"
    assert "LONGHAUL_DEVSERVER_DB" not in env  # the dev server's default: in memory


def test_dev_server_database_and_retry_timer_can_be_chosen(tmp_path: Path) -> None:
    spec = devserver_spec({}, 8001, db_path=tmp_path / "d.sqlite3", retry_timeout_ms=250)
    assert spec.env["LONGHAUL_DEVSERVER_DB"] == str(tmp_path / "d.sqlite3")
    assert spec.env["RESONATE_TASKS__RETRY_TIMEOUT"] == "250"
