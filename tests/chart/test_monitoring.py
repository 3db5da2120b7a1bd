"""The opt-in monitoring objects: the PrometheusRule and the Grafana dashboard ConfigMap
carry the files the observability tests check, whole."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.chart.helpers import CI_DIR, by_kind
from tests.observability.promql import DASHBOARD_FILE, RULES_FILE

pytestmark = pytest.mark.chart

# The shape of monitoring.coreos.com/v1 PrometheusRule the chart uses.
RULE_KEYS = {"alert", "expr", "for", "labels", "annotations"}


def test_off_by_default(render) -> None:
    docs = render("default")
    assert not by_kind(docs, "PrometheusRule")
    assert not [
        d for d in by_kind(docs, "ConfigMap") if "grafana_dashboard" in d["metadata"]["labels"]
    ]


def test_the_prometheus_rule_is_the_rules_file_with_runbook_links_prefixed(render) -> None:
    (rule,) = by_kind(render("monitoring"), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    expected = yaml.safe_load(RULES_FILE.read_text())
    for group in expected["groups"]:
        for r in group["rules"]:
            anchor = r["annotations"]["runbook_url"].removeprefix("docs/runbooks.md")
            r["annotations"]["runbook_url"] = f"https://longhaul.example.com/runbooks/{anchor}"
    assert rule["spec"] == expected
    for group in rule["spec"]["groups"]:
        assert set(group) == {"name", "rules"}
        for r in group["rules"]:
            assert set(r) == RULE_KEYS and isinstance(r["expr"], str)


def test_without_a_base_url_the_links_stay_repository_paths(helm) -> None:
    docs = helm.template(
        [CI_DIR / "monitoring-values.yaml"], ["metrics.prometheusRule.runbookBaseUrl="]
    )
    (rule,) = by_kind(docs, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES_FILE.read_text())


def test_the_dashboard_configmap_carries_the_dashboard_for_the_sidecar(render) -> None:
    (cm,) = [
        d
        for d in by_kind(render("monitoring"), "ConfigMap")
        if "longhaul.json" in d.get("data", {})
    ]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Longhaul"}
    assert json.loads(cm["data"]["longhaul.json"]) == json.loads(DASHBOARD_FILE.read_text())


def test_the_dashboard_has_the_rows_it_promises() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == [
        "Gateway",
        "Jobs",
        "Workers",
        "Resonate server",
        "Waiting (long-polls and finished reads)",
        "Webhooks",
    ]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
