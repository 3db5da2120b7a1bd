"""The alert rules as files: promtool checks them and runs their unit tests, and every
alert links a runbook section that exists."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.observability.prometheus import binaries
from tests.observability.promql import ROOT, RULES_FILE, alert_rules

pytestmark = pytest.mark.chart

UNIT_TESTS = ROOT / "tests" / "observability" / "rules_test.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binaries() / "promtool"), *args], capture_output=True, text=True, timeout=120
    )


def test_promtool_check_rules() -> None:
    out = promtool("check", "rules", str(RULES_FILE))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in out.stdout


def test_promtool_test_rules() -> None:
    out = promtool("test", "rules", str(UNIT_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    text = UNIT_TESTS.read_text()
    for rule in alert_rules():
        fired = re.search(
            rf"alertname: {rule['alert']}\n\s+eval_time: \S+\n\s+exp_alerts:\n\s+- exp_labels", text
        )
        assert fired, f"{rule['alert']}: no unit test expects it to fire"


def slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown toc) gives a heading."""
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower())


def test_every_alert_links_its_runbook_section() -> None:
    anchors = {
        slug(line.lstrip("#").strip()) for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }  # fmt: skip
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/runbooks.md#{rule['alert'].lower()}", url
        assert url.split("#", 1)[1] in anchors, f"{url}: no such section in docs/runbooks.md"
        for key in ("summary", "description"):
            assert rule["annotations"].get(key), f"{rule['alert']}: no {key}"
        assert rule["labels"]["severity"] in ("warning", "critical")
