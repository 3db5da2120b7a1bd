"""The PromQL the project ships (dashboard, alerts, autoscaling query), as data.

Every expression is parsed with ``promql_parser`` (Prometheus's own grammar):
what it selects (metric names and the labels it matches on) and its *signals*
(the expression without the alert threshold: what must return data for the
alert to be able to fire).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import promql_parser as pp
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "longhaul"
RULES_FILE = CHART / "rules" / "longhaul.rules.yaml"
DASHBOARD_FILE = CHART / "dashboards" / "longhaul.json"
#: What the dashboard's variables stand for when a query is run outside Grafana.
DASHBOARD_VARIABLES = {"$__rate_interval": "1m", "$namespace": ".+"}


@dataclass(frozen=True)
class Expression:
    where: str
    expr: str


@dataclass(frozen=True)
class Selector:
    metric: str
    labels: frozenset[str]


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text())


def dashboard_expressions() -> list[Expression]:
    out = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in DASHBOARD_VARIABLES.items():
                expr = expr.replace(name, value)
            out.append(Expression(f"dashboard: {panel['title']} ({target['refId']})", expr))
    return out


def rule_expressions() -> list[Expression]:
    return [Expression(f"alert: {rule['alert']}", rule["expr"]) for rule in alert_rules()]


def selectors(expr: str) -> list[Selector]:
    found: list[Selector] = []

    def visit(node: object) -> None:
        if isinstance(node, pp.VectorSelector):
            labels = frozenset(m.name for m in node.matchers.matchers) - {"__name__"}
            found.append(Selector(node.name, labels))

    pp.walk(pp.parse(expr), visit)
    return found


def metric_names(expr: str) -> set[str]:
    return {s.metric for s in selectors(expr)}


_COMPARISONS = {"<", ">", "<=", ">=", "==", "!="}


def signals(expr: str) -> list[str]:
    """The parts of ``expr`` that must return data: thresholds and ``absent`` stripped."""

    def split(node: object) -> list[object]:
        if isinstance(node, pp.ParenExpr):
            return split(node.expr)
        if isinstance(node, pp.BinaryExpr):
            op = str(node.op)
            if op in ("or", "and", "unless"):
                return split(node.lhs) + split(node.rhs)
            if op in _COMPARISONS:
                if constant(node.rhs):
                    return split(node.lhs)
                if constant(node.lhs):
                    return split(node.rhs)
        return [node]

    def constant(node: object) -> bool:  # a threshold such as 0.05 or 3 * 86400
        selects: list[object] = []
        pp.walk(node, lambda n: selects.append(n) if isinstance(n, pp.VectorSelector) else None)
        return not selects

    return [str(part) for part in split(pp.parse(expr))]


def base_metric(name: str) -> str:
    """A histogram's series name back to what a /metrics page declares."""
    return re.sub(r"_(bucket|count|sum)$", "", name)
