"""The opt-in retention CronJob: same database Secret as the Resonate server, one run at a time."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from tests.chart.helpers import CI_DIR, KUBE_VERSION, RELEASE, by_kind, find, pod_spec
from tests.chart.test_policy import _labels, allowed, pod_labels

pytestmark = pytest.mark.chart

CRONJOB = f"{RELEASE}-retention"
RESONATE = f"{RELEASE}-resonate"
DB_ENV = ("RESONATE_STORAGE__POSTGRES__URL", "LONGHAUL_POSTGRES_PASSWORD")


def env(doc: dict) -> dict[str, dict]:
    return {e["name"]: e for e in pod_spec(doc)["containers"][0].get("env", [])}


def database_env(doc: dict) -> dict[str, dict]:
    return {k: v for k, v in env(doc).items() if k in DB_ENV}


@pytest.mark.parametrize("scenario", ["default", "external-postgres", "kind"])
def test_it_reads_the_database_the_resonate_server_reads(helm, scenario):
    docs = helm.template([CI_DIR / f"{scenario}-values.yaml"], ["retention.enabled=true"])
    cron = find(docs, "CronJob", CRONJOB)
    server = find(docs, "StatefulSet", RESONATE)
    ours, theirs = database_env(cron), database_env(server)
    assert ours == theirs and "RESONATE_STORAGE__POSTGRES__URL" in ours
    refs = [e["valueFrom"]["secretKeyRef"] for e in ours.values() if "valueFrom" in e]
    assert refs, "the URL or the password must come from a Secret"
    # A private CA mounted into the server is mounted at the same path here.
    mounts = {m["name"]: m["mountPath"] for m in pod_spec(server)["containers"][0]["volumeMounts"]}
    cron_mounts = {
        m["name"]: m["mountPath"] for m in pod_spec(cron)["containers"][0]["volumeMounts"]
    }
    if "postgres-ca" in mounts:
        assert cron_mounts["postgres-ca"] == mounts["postgres-ca"]


def test_the_cronjob_is_off_by_default(render):
    for scenario in ("default", "kind", "external-postgres"):
        docs = render(scenario)
        assert not by_kind(docs, "CronJob")
        assert all("retention" not in d["metadata"]["name"] for d in docs)


def test_the_cronjob_runs_the_command_once_at_a_time_with_the_values(render):
    docs = render("retention")
    cron = find(docs, "CronJob", CRONJOB)
    kubernetes_validate.validate(cron, KUBE_VERSION, strict=True)
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"] == "*/30 * * * *"
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 1700
    pod = pod_spec(cron)
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "services.retention"]
    assert container["image"].startswith("longhaul-worker:")
    values = {k: v.get("value") for k, v in env(cron).items()}
    assert values["LONGHAUL_RETENTION"] == "3d"
    assert json.loads(values["LONGHAUL_RETENTION_TENANTS"]) == {"acme": "12h", "audit": "0"}
    assert values["LONGHAUL_RETENTION_MAX_RUNTIME_S"] == "1500"
    assert int(values["LONGHAUL_RETENTION_MAX_RUNTIME_S"]) < job["activeDeadlineSeconds"]


def test_the_values_reach_the_command_settings(render, monkeypatch):
    """What the chart renders is what the command accepts (its settings validate it)."""
    from services.retention.settings import RetentionCommandSettings

    cron = find(render("retention"), "CronJob", CRONJOB)
    for name, entry in env(cron).items():
        if "value" in entry:
            monkeypatch.setenv(name, entry["value"])
    monkeypatch.setenv("RESONATE_STORAGE__POSTGRES__URL", "postgres://u:p@h:5432/d")
    policy = RetentionCommandSettings().policy()  # type: ignore[call-arg]
    assert policy.tenants == {"acme": 12 * 3_600_000, "audit": 0}
    assert policy.default_ms == 3 * 86_400_000


def test_the_bundled_postgres_lets_the_cronjob_in_and_it_reaches_only_postgres(render):
    docs = render("retention")
    pols = by_kind(docs, "NetworkPolicy")
    retention = pod_labels(find(docs, "CronJob", CRONJOB))
    postgres = _labels(docs, "postgresql")
    assert allowed(pols, retention, postgres, 5432)
    assert allowed(pols, retention, {"k8s-app": "kube-dns"}, 53)
    assert not allowed(pols, retention, _labels(docs, "resonate"), 8001)
    assert not allowed(pols, retention, {"app": "somewhere"}, 443)
    assert not allowed(pols, _labels(docs, "gateway"), postgres, 5432)


@pytest.mark.parametrize(
    "bad", ["retention.retention=7x", "retention.tenants.Acme=1d", "retention.batchIds=1"]
)
def test_bad_values_are_refused_by_the_schema(helm, bad):
    args = helm.template_args([CI_DIR / "retention-values.yaml"], [bad])
    proc = helm.run(*args)
    assert proc.returncode != 0 and "schema" in proc.stderr, proc.stderr
    assert helm.run(*helm.template_args([CI_DIR / "retention-values.yaml"])).returncode == 0
