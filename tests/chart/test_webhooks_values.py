"""`webhooks:` values: signing secrets from a Secret, allowed networks, the worker's egress."""

from __future__ import annotations

import pytest

from tests.chart.helpers import by_kind, find

pytestmark = pytest.mark.chart


def _component(docs: list[dict], kind: str, component: str) -> dict:
    return next(
        d
        for d in by_kind(docs, kind)
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    )


def _config(docs: list[dict], component: str) -> dict[str, str]:
    deployment = _component(docs, "Deployment", component)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return find(docs, "ConfigMap", container["envFrom"][0]["configMapRef"]["name"])["data"]


def _worker_env(docs: list[dict]) -> dict[str, dict]:
    container = _component(docs, "Deployment", "worker")["spec"]["template"]["spec"]
    return {e["name"]: e for e in container["containers"][0]["env"]}


def test_enabled_webhooks_sign_with_the_secret_and_open_egress(render) -> None:
    docs = render("webhooks")
    secret = _worker_env(docs)["LONGHAUL_WEBHOOK_SECRETS"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "longhaul-webhook-secrets", "key": "secrets"}
    worker = _config(docs, "worker")
    assert worker["LONGHAUL_WEBHOOK_ALLOWED_NETWORKS"] == "10.20.0.0/16"
    assert worker["LONGHAUL_WEBHOOK_RETRY_DELAYS_S"] == "5,60,600,3600"
    assert _config(docs, "gateway")["LONGHAUL_WEBHOOK_ALLOWED_NETWORKS"] == "10.20.0.0/16"
    policy = _component(docs, "NetworkPolicy", "worker")
    rules = [r for r in policy["spec"]["egress"] if any("ipBlock" in t for t in r.get("to", []))]
    [rule] = rules
    blocks = [t["ipBlock"] for t in rule["to"]]
    assert blocks[0]["cidr"] == "0.0.0.0/0" and "10.0.0.0/8" in blocks[0]["except"]
    assert "169.254.0.0/16" in blocks[0]["except"]
    assert {"cidr": "10.20.0.0/16"} in blocks
    assert sorted(p["port"] for p in rule["ports"]) == [80, 443]


def test_by_default_no_webhook_secret_and_no_egress(render) -> None:
    docs = render("default")
    assert "LONGHAUL_WEBHOOK_SECRETS" not in _worker_env(docs)
    assert "LONGHAUL_WEBHOOK_ALLOWED_NETWORKS" not in _config(docs, "worker")
    policy = _component(docs, "NetworkPolicy", "worker")
    assert not any("ipBlock" in t for r in policy["spec"]["egress"] for t in r.get("to", []))


def test_enabled_without_a_secret_fails_the_render(helm) -> None:
    result = helm.run(*helm.template_args(sets=["webhooks.enabled=true"]))
    assert result.returncode != 0
    assert "webhooks.secretName" in result.stderr
