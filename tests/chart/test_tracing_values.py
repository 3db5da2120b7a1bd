"""`tracing:` values: OTEL_* env on both Deployments, nothing when off, bad values refused."""

from __future__ import annotations

import pytest

from tests.chart.helpers import CI_DIR, NAMESPACE, RELEASE, find

pytestmark = pytest.mark.chart

DEPLOYMENTS = (f"{RELEASE}-gateway", f"{RELEASE}-worker")


def env_of(docs: list[dict], name: str) -> dict[str, dict]:
    container = find(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container.get("env", [])}


def test_tracing_sets_the_standard_otel_env_on_gateway_and_worker(render, runtime_env) -> None:
    docs = render("tracing")
    for name, service in zip(DEPLOYMENTS, ("gateway", "worker"), strict=True):
        env = env_of(docs, name)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == (
            "http://otel-collector.observability.svc:4318"
        )
        assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"]["value"] == "0.25"
        assert env["K8S_POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        names = list(env)
        # Kubernetes expands $(K8S_POD_NAME) only from a variable defined before it.
        assert names.index("K8S_POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")
        assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"] == (
            f"k8s.namespace.name={NAMESPACE},k8s.pod.name=$(K8S_POD_NAME),"
            "deployment.environment.name=ci"
        )
        assert set(env) <= runtime_env[service], set(env) - runtime_env[service]


def test_tracing_is_off_by_default(render) -> None:
    docs = render("default")
    for name in DEPLOYMENTS:
        assert not [n for n in env_of(docs, name) if n.startswith("OTEL_")], name


@pytest.mark.parametrize(
    ("sets", "error"),
    [
        (["tracing.enabled=true"], "endpoint"),
        (["tracing.enabled=true", "tracing.endpoint=collector:4318"], "endpoint"),
        (["tracing.samplerRatio=1.5"], "samplerRatio"),
        (["tracing.resourceAttributes.team=a\\,b"], "resourceAttributes"),
    ],
)
def test_bad_tracing_values_are_refused(helm, sets: list[str], error: str) -> None:
    proc = helm.run(*helm.template_args([CI_DIR / "default-values.yaml"], sets))
    assert proc.returncode != 0 and error in proc.stderr, proc.stderr
