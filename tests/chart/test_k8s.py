"""k8s/: the kind cluster config and the chaos pod-killer's namespaced RBAC."""

from __future__ import annotations

import pytest
import yaml

from tests.chart.helpers import ROOT

pytestmark = pytest.mark.chart


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((ROOT / "k8s" / name).read_text()) if d]


def test_kind_config_has_one_control_plane_and_two_workers():
    (cfg,) = docs("kind-config.yaml")
    assert cfg["kind"] == "Cluster"
    assert cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane", "worker", "worker"]
    assert not cfg.get("networking", {}).get("disableDefaultCNI"), "kindnet enforces policies"


def test_chaos_rbac_is_namespaced_and_minimal():
    objs = {d["kind"]: d for d in docs("chaos-rbac.yaml")}
    assert set(objs) == {"ServiceAccount", "Role", "RoleBinding"}, "no cluster-wide objects"
    for d in objs.values():
        assert "namespace" not in d["metadata"], "applied into the release namespace with -n"
    granted = {
        (group, resource, verb)
        for rule in objs["Role"]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    expected = {("", "pods", v) for v in ("get", "list", "watch", "delete")}
    expected |= {("apps", r, v) for r in ("deployments", "statefulsets") for v in ("get", "list")}
    expected |= {("", "pods/portforward", "create")}
    assert granted == expected
    binding = objs["RoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": objs["Role"]["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": objs["ServiceAccount"]["metadata"]["name"]}
    ]


def test_chaos_nodeport_is_mapped_to_the_runner(render):
    """The kind chaos job reaches the gateway at localhost:<nodePort>; both files must agree."""
    (cfg,) = docs("kind-config.yaml")
    mapped = {
        m["containerPort"]
        for n in cfg["nodes"]
        for m in n.get("extraPortMappings", [])
        if m.get("hostPort") == m["containerPort"]
    }
    services = [
        d
        for d in render("kind-chaos")
        if d["kind"] == "Service"
        and d["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"
    ]
    (gateway,) = [s for s in services if s["spec"].get("type") == "NodePort"]
    assert gateway["spec"]["ports"][0]["nodePort"] in mapped
