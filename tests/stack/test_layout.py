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


def test_gateway_runs_without_auth_unless_told_and_says_so_explicitly(tmp_path: Path) -> None:
    from services.stack.layout import gateway_spec

    spec = gateway_spec({}, port=8000, resonate_url="http://x", metrics_dir=tmp_path)
    assert spec.env["LONGHAUL_AUTH_MODE"] == "none"
    keyed = gateway_spec(
        {"LONGHAUL_AUTH_API_KEYS_FILE": "/k"},
        port=8000,
        resonate_url="http://x",
        metrics_dir=tmp_path,
    )
    assert "LONGHAUL_AUTH_MODE" not in keyed.env  # the gateway's default: required
    told = gateway_spec(
        {}, port=8000, resonate_url="http://x", metrics_dir=tmp_path, LONGHAUL_AUTH_MODE="required"
    )
    assert told.env["LONGHAUL_AUTH_MODE"] == "required"
