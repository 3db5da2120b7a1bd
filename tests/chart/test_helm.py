"""helm lint --strict per scenario, schema validation of every rendered object,
and clear failures for bad values."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from tests.chart.helpers import CHART, CI_DIR, KUBE_VERSION, ROOT, SCENARIOS

pytestmark = pytest.mark.chart

# Kinds whose schema kubernetes-validate cannot know (CRDs); everything else
# must have a schema for KUBE_VERSION.
CRD_ALLOWLIST = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    # Their shapes are checked in tests/chart/test_autoscaling.py and test_monitoring.py.
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
}


def test_scenarios_present():
    assert {
        "default",
        "external-postgres",
        "kind",
        "auth",
        "auth-static-token",
        "no-autoscaling",
    } <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict(helm, scenario):
    proc = helm.run("lint", "--strict", str(CHART), "-f", str(CI_DIR / f"{scenario}-values.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout + proc.stderr


def validate(doc: dict, kube_version: str = KUBE_VERSION) -> None:
    if (doc["apiVersion"], doc["kind"]) in CRD_ALLOWLIST:
        return
    where = f"{doc['kind']}/{doc['metadata'].get('name')}"
    try:
        kubernetes_validate.validate(doc, kube_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as e:
        pytest.fail(f"{where}: no schema (removed or unknown API?): {e.message}")
    except kubernetes_validate.ValidationError as e:
        path = "/".join(str(p) for p in e.absolute_path)
        pytest.fail(f"{where}: invalid at {path}: {e.message}")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rendered_objects_match_kubernetes_schemas(render, scenario):
    docs = render(scenario)
    assert docs, "nothing rendered"
    for doc in docs:
        validate(doc)


@pytest.mark.parametrize("kube_version", ["1.27.0", "1.33.0"])
def test_oldest_supported_and_kind_kubernetes_versions(helm, kube_version):
    """The chart's kubeVersion floor and the kind workflow's node version (kind v0.29)."""
    for scenario in ("kind", "external-postgres"):
        args = helm.template_args([CI_DIR / f"{scenario}-values.yaml"])
        args[args.index("--kube-version") + 1] = kube_version
        out = helm.run(*args, check=True).stdout
        for doc in (d for d in yaml.safe_load_all(out) if d):
            validate(doc, kube_version)


def test_k8s_manifests_match_kubernetes_schemas():
    """k8s/ holds plain manifests (chaos RBAC) besides the kind config."""
    checked = 0
    for path in sorted((ROOT / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("apiVersion", "").startswith("kind.x-k8s.io/"):
                continue
            validate(doc)
            checked += 1
    assert checked >= 3


def test_schema_validation_rejects_an_invalid_object():
    """The validator itself catches a typo'd field (so a green run means something)."""
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 80}], "selectr": {"a": "b"}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE_VERSION, strict=True)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(
            {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "x"}},
            KUBE_VERSION,
            strict=True,
        )


# --- bad values fail with a clear message -------------------------------------

BASE = str(CI_DIR / "default-values.yaml")

# (id, --set, words the error must contain). Schema errors fail lint and template.
SCHEMA_CASES = [
    ("typo-key", "gateway.replicaCont=3", ["replicaCont", "not allowed"]),
    ("negative-replicas", "worker.replicaCount=-1", ["/worker/replicaCount", "minimum"]),
    ("wrong-enum", "gateway.logFormat=xml", ["/gateway/logFormat", "json", "console"]),
    ("wrong-pull-policy", "resonate.image.pullPolicy=Sometimes", ["pullPolicy"]),
    ("resonate-replicas", "resonate.replicaCount=2", ["/resonate", "replicaCount"]),
    ("resonate-autoscaling", "resonate.autoscaling.enabled=true", ["/resonate", "autoscaling"]),
    ("bad-port", "resonate.port=70000", ["/resonate/port", "maximum"]),
    ("no-limits", "gateway.resources.limits=null", ["/gateway/resources", "limits"]),
]


@pytest.mark.parametrize(
    ("setting", "words"), [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES]
)
def test_bad_value_fails_lint_and_template(helm, setting, words):
    lint = helm.run("lint", "--strict", str(CHART), "-f", BASE, "--set", setting)
    assert lint.returncode != 0, f"helm lint accepted {setting}"
    tmpl = helm.run(*helm.template_args([BASE], [setting]))
    assert tmpl.returncode != 0, f"helm template accepted {setting}"
    for out in (lint.stdout + lint.stderr, tmpl.stderr):
        for word in words:
            assert word in out, f"{word!r} missing from the error for {setting}:\n{out}"


# Cross-field rules live in templates (`fail`): helm template stops with the
# message (helm lint only logs template `fail`s, by design of helm).
TEMPLATE_CASES = [
    ("no-database", [], [], "postgresql.external.existingSecret is required"),
    (
        "no-host",
        [],
        ["postgresql.external.existingSecret=pg", "auth.mode=none"],
        "postgresql.external.host is required",
    ),
    (
        "gateway-grace",
        [BASE],
        ["gateway.terminationGracePeriodSeconds=20"],
        "gateway.terminationGracePeriodSeconds (20) must exceed",
    ),
    (
        "worker-grace",
        [BASE],
        ["worker.drainTimeoutSeconds=60"],
        "worker.terminationGracePeriodSeconds (40) must exceed worker.drainTimeoutSeconds (60)",
    ),
    (
        "long-poll-outlives-shutdown",
        [BASE],
        ["gateway.maxWaitSeconds=20"],
        "gateway.maxWaitSeconds (20) must be below gateway.gracefulTimeoutSeconds (20)",
    ),
    ("auth-no-key", [BASE], ["resonate.auth.enabled=true"], "resonate.auth.publicKeySecret.name"),
    (
        "auth-no-client-credential",
        [BASE],
        ["resonate.auth.enabled=true", "resonate.auth.publicKeySecret.name=pub"],
        "needs resonate.auth.privateKeySecret.name",
    ),
    (
        "auth-key-and-token",
        [BASE],
        [
            "resonate.auth.enabled=true",
            "resonate.auth.publicKeySecret.name=pub",
            "resonate.auth.privateKeySecret.name=priv",
            "resonate.auth.tokenSecret.name=tok",
        ],
        "set only one of resonate.auth.privateKeySecret.name and resonate.auth.tokenSecret.name",
    ),
    (
        "hpa-min-over-max",
        [BASE],
        ["worker.autoscaling.minReplicas=30"],
        "worker.autoscaling.minReplicas (30) must not exceed",
    ),
]


@pytest.mark.parametrize(
    ("values", "sets", "message"),
    [c[1:] for c in TEMPLATE_CASES],
    ids=[c[0] for c in TEMPLATE_CASES],
)
def test_inconsistent_values_fail_template(helm, values, sets, message):
    proc = helm.run(*helm.template_args(values, sets))
    assert proc.returncode != 0, f"helm template accepted {sets}"
    assert message in proc.stderr, proc.stderr
