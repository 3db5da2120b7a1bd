"""The worker's autoscaling modes as rendered: cpu (an HPA on CPU, the default),
prometheus-adapter (an HPA on the external demand metric), keda (a ScaledObject)."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

from tests.chart.helpers import CHART, CI_DIR, by_kind, find
from tests.observability.promql import metric_names

pytestmark = pytest.mark.chart

WORKER = "longhaul-worker"
DEMAND_METRICS = {
    "longhaul_worker_task_slots",
    "longhaul_worker_task_slots_busy",
    "longhaul_worker_tasks_queued",
}

# The parts of KEDA's CRDs (keda.sh/v1alpha1) the chart uses: kubernetes-validate
# has no schema for them (tests/chart/test_helm.py allowlists the kinds).
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                    },
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "behavior": {"type": "object"},
                            },
                        }
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"enum": ["prometheus", "cpu", "memory", "postgresql"]},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            # KEDA reads every trigger parameter as a string.
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "authenticationRef": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "kind": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}
TRIGGER_AUTHENTICATION = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["secretTargetRef"],
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["parameter", "name", "key"],
                        "properties": {
                            "parameter": {"enum": ["password", "connection"]},
                            "name": {"type": "string", "minLength": 1},
                            "key": {"type": "string", "minLength": 1},
                        },
                    },
                }
            },
        }
    },
}


def worker_hpas(docs: list[dict]) -> list[dict]:
    return [d for d in by_kind(docs, "HorizontalPodAutoscaler") if d["metadata"]["name"] == WORKER]


def test_cpu_is_the_default_mode(render, values) -> None:
    assert values["worker"]["autoscaling"]["mode"] == "cpu"
    docs = render("default")
    (hpa,) = worker_hpas(docs)
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert not by_kind(docs, "ScaledObject")
    assert hpa["spec"]["behavior"] == values["worker"]["autoscaling"]["behavior"]


def test_keda_mode_renders_a_scaled_object_and_no_hpa_of_its_own(render) -> None:
    docs = render("keda")
    assert not worker_hpas(docs), "KEDA owns the worker's HPA in this mode"
    deployment = find(docs, "Deployment", WORKER)
    assert "replicas" not in deployment["spec"]
    (scaled,) = by_kind(docs, "ScaledObject")
    jsonschema.validate(scaled, SCALED_OBJECT)
    values = yaml.safe_load((CI_DIR / "keda-values.yaml").read_text())["worker"]["autoscaling"]
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKER}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, values["maxReplicas"])
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["worker"]["autoscaling"]
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == defaults["behavior"]
    prometheus, cpu, postgresql = spec["triggers"]
    assert prometheus["type"] == "prometheus" and prometheus["metricType"] == "Value"
    meta = prometheus["metadata"]
    assert meta["serverAddress"] == values["keda"]["serverAddress"]
    assert meta["threshold"] == str(defaults["demand"]["targetUtilization"])
    assert metric_names(meta["query"]) == DEMAND_METRICS
    assert meta["query"].count('{namespace="longhaul",job="worker"}') == 3
    assert cpu == {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}
    assert postgresql["type"] == "postgresql"
    assert postgresql["metadata"]["query"] == defaults["keda"]["scaleFromZero"]["query"]
    assert postgresql["metadata"]["host"] == "postgres.example.internal"
    (auth,) = by_kind(docs, "TriggerAuthentication")
    jsonschema.validate(auth, TRIGGER_AUTHENTICATION)
    assert postgresql["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "longhaul-postgres", "key": "password"}
    ]


def test_keda_with_a_database_url_secret_passes_the_url(helm) -> None:
    docs = helm.template([CI_DIR / "keda-values.yaml"], ["postgresql.external.urlKey=url"])
    (auth,) = by_kind(docs, "TriggerAuthentication")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "connection", "name": "longhaul-postgres", "key": "url"}
    ]
    (scaled,) = by_kind(docs, "ScaledObject")
    assert "host" not in scaled["spec"]["triggers"][-1]["metadata"]


def test_keda_without_scale_from_zero_has_only_the_demand_triggers(helm) -> None:
    docs = helm.template(
        [CI_DIR / "keda-values.yaml"],
        ["worker.autoscaling.keda.scaleFromZero.enabled=false", "worker.autoscaling.minReplicas=1"],
    )
    (scaled,) = by_kind(docs, "ScaledObject")
    assert [t["type"] for t in scaled["spec"]["triggers"]] == ["prometheus", "cpu"]
    assert not by_kind(docs, "TriggerAuthentication")


def test_prometheus_adapter_mode_scales_on_the_external_metric(render) -> None:
    (hpa,) = worker_hpas(render("prometheus-adapter"))
    (metric,) = hpa["spec"]["metrics"]  # CPU off in this scenario
    assert metric == {
        "type": "External",
        "external": {
            "metric": {
                "name": "longhaul_worker_slot_demand",
                "selector": {"matchLabels": {"job": "worker"}},
            },
            "target": {"type": "Value", "value": "800m"},
        },
    }
    example = yaml.safe_load((CHART / "examples" / "prometheus-adapter-values.yaml").read_text())
    (rule,) = example["rules"]["external"]
    assert rule["name"]["as"] == metric["external"]["metric"]["name"]
    assert metric_names(rule["metricsQuery"].replace("<<.LabelMatchers>>", 'job="worker"')) == (
        DEMAND_METRICS
    )


def test_service_monitors_label_the_job_with_the_component(render) -> None:
    for monitor in by_kind(render("keda"), "ServiceMonitor"):
        assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/component"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["worker.autoscaling.minReplicas=0"], "worker.autoscaling.minReplicas 0 needs"),
        (
            ["worker.autoscaling.mode=keda", "worker.autoscaling.minReplicas=0"],
            "worker.autoscaling.minReplicas 0 needs",
        ),
    ],
    ids=["zero-on-cpu", "zero-without-database-trigger"],
)
def test_zero_workers_need_the_database_trigger(helm, sets, message) -> None:
    proc = helm.run(*helm.template_args([CI_DIR / "default-values.yaml"], sets))
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("setting", "word"),
    [
        ("worker.autoscaling.mode=memory", "mode"),
        ("worker.autoscaling.demand.targetUtilization=1.5", "targetUtilization"),
        ("worker.autoscaling.keda.serverAddress=prometheus:9090", "serverAddress"),
    ],
)
def test_bad_autoscaling_values_fail_the_schema(helm, setting, word) -> None:
    proc = helm.run(*helm.template_args([CI_DIR / "default-values.yaml"], [setting]))
    assert proc.returncode != 0 and word in proc.stderr, proc.stderr


def test_cpu_mode_without_any_target_still_fails(helm) -> None:
    proc = helm.run(
        *helm.template_args(
            [CI_DIR / "default-values.yaml"],
            ["worker.autoscaling.targetCPUUtilizationPercentage=null"],
        )
    )
    assert proc.returncode != 0 and "needs targetCPUUtilizationPercentage" in proc.stderr
