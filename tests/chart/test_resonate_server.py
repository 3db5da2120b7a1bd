"""The chart matches the real Resonate server v0.9.8 (issue 11, part 7): the
task retry timer comes from a value, the image stays on the server the pinned
SDK works with, a private CA for `sslmode=verify-full` can be mounted, and the
worker probes suit what /healthz and /readyz mean."""

from __future__ import annotations

import json
import re
import tomllib

import jsonschema
import pytest
import yaml

from tests.chart.helpers import CHART, CI_DIR, ROOT, find, pod_spec

pytestmark = pytest.mark.chart

RESONATE = "longhaul-resonate"
WORKER = "longhaul-worker"
BASE = CI_DIR / "default-values.yaml"
CA_DIR = "/etc/resonate/ca"
CA_FILE = f"{CA_DIR}/ca.crt"
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def server(docs: list[dict]) -> tuple[dict, dict]:
    sts = find(docs, "StatefulSet", RESONATE)
    return sts, pod_spec(sts)["containers"][0]


def server_env(docs: list[dict]) -> dict[str, str]:
    """What the server process sees: its ConfigMap, then its literal env."""
    _, c = server(docs)
    env: dict[str, str] = {}
    for src in c.get("envFrom", []):
        env.update(find(docs, "ConfigMap", src["configMapRef"]["name"])["data"])
    for e in c.get("env", []):
        env[e["name"]] = e.get("value", "<from a reference>")
    return env


def merged(over: dict) -> dict:
    def merge(base, new):
        if isinstance(base, dict) and isinstance(new, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in new.items()}}
        return new

    return merge(VALUES, over)


# --- RESONATE_TASKS__RETRY_TIMEOUT --------------------------------------------


@pytest.mark.parametrize(
    "scenario", [p.name.removesuffix("-values.yaml") for p in CI_DIR.glob("*-values.yaml")]
)
def test_retry_timeout_defaults_to_5000_ms_everywhere(render, scenario):
    """5000 ms is the number the dev server and the tests use too (not the
    server's own 30000): a dropped `execute` waits at most this long."""
    assert VALUES["resonate"]["taskRetryTimeoutMs"] == 5000
    assert server_env(render(scenario))["RESONATE_TASKS__RETRY_TIMEOUT"] == "5000"


@pytest.mark.parametrize("ms", [1000, 12000, 300000])
def test_retry_timeout_follows_the_value_as_integer_ms(helm, ms):
    docs = helm.template([BASE], [f"resonate.taskRetryTimeoutMs={ms}"])
    # integer milliseconds, never "3e+05" (figment parses it as an i64)
    assert server_env(docs)["RESONATE_TASKS__RETRY_TIMEOUT"] == str(ms)


@pytest.mark.parametrize(
    ("setting", "word"),
    [
        ("resonate.taskRetryTimeoutMs=999", "minimum"),
        ("resonate.taskRetryTimeoutMs=300001", "maximum"),
        ("resonate.taskRetryTimeoutMs=2500.5", "integer"),
        ("resonate.taskRetryTimeoutMs=5s", "integer"),
    ],
)
def test_retry_timeout_is_validated(helm, setting, word):
    proc = helm.run(*helm.template_args([BASE], [setting]))
    assert proc.returncode != 0, f"helm template accepted {setting}"
    assert "/resonate/taskRetryTimeoutMs" in proc.stderr and word in proc.stderr, proc.stderr


def test_retry_timeout_in_extra_env_is_not_needed():
    """The value replaces the extraEnv workaround the docs used to suggest."""
    docs = (CHART / "values.yaml").read_text()
    extra = re.search(r"# -- ([^\n]*)\n  extraEnv:", docs.split("\nresonate:", 1)[1])
    assert extra and "RETRY_TIMEOUT" not in extra.group(1)


# --- the server image stays on v0.9.8 while the SDK is 0.8.1 -------------------

# resonate-sdk pin -> the Resonate server tag known to work with it. Server HEAD
# after v0.9.8 rejects a heartbeat whose tasks span several origins, which
# resonate-sdk 0.8.1 sends: moving the tag needs a new SDK (and a new row here).
SERVER_FOR_SDK = {"0.8.1": "v0.9.8"}


def sdk_pin() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d.split("==", 1)[1].strip() for d in deps if re.match(r"resonate-sdk\s*==", d)]
    assert len(pins) == 1, f"resonate-sdk must be pinned with == in pyproject.toml: {deps}"
    return pins[0]


def pin_problem(sdk: str, tag: str) -> str | None:
    if sdk not in SERVER_FOR_SDK:
        return f"resonate-sdk {sdk}: which Resonate server works with it? (SERVER_FOR_SDK)"
    if tag != SERVER_FOR_SDK[sdk]:
        return (
            f"resonate.image.tag {tag} with resonate-sdk {sdk}: server HEAD after v0.9.8 "
            "rejects the SDK 0.8.1 heartbeats (tasks of several origins); keep "
            f"{SERVER_FOR_SDK[sdk]} until the SDK changes"
        )
    return None


def test_server_image_matches_the_sdk_pin(render):
    sdk = sdk_pin()
    problem = pin_problem(sdk, VALUES["resonate"]["image"]["tag"])
    assert problem is None, problem
    _, c = server(render("default"))
    assert c["image"] == f"resonatehqio/resonate:{SERVER_FOR_SDK[sdk]}"
    for path in CI_DIR.glob("*-values.yaml"):
        over = (yaml.safe_load(path.read_text()) or {}).get("resonate", {}).get("image", {})
        assert "tag" not in over, f"{path.name} moves the Resonate server tag"


def test_the_pin_check_can_fail():
    """A moved tag, or a new SDK without a known server, is caught."""
    assert pin_problem("0.8.1", "v0.9.8") is None
    assert "keep v0.9.8" in pin_problem("0.8.1", "v0.9.9")
    assert "which Resonate server" in pin_problem("0.9.0", "v0.9.8")


def test_the_pin_is_explained_next_to_the_value():
    text = (CHART / "values.yaml").read_text()
    block = text.split("\nresonate:", 1)[1].split("    tag: v0.9.8", 1)[0]
    assert "0.8.1" in block and "heartbeat" in block, "say why the tag is pinned"


def test_image_entrypoint_is_named_right():
    """The v0.9.8 image's entrypoint is `resonate-server` (CMD `serve`)."""
    text = (CHART / "values.yaml").read_text()
    assert "entrypoint is `resonate-server`" in text


# --- a private CA for sslmode=verify-full --------------------------------------


def ca_volume(docs: list[dict]) -> tuple[dict | None, dict | None]:
    sts, c = server(docs)
    mount = next((m for m in c["volumeMounts"] if m["mountPath"] == CA_DIR), None)
    if mount is None:
        return None, None
    vol = next(v for v in pod_spec(sts)["volumes"] if v["name"] == mount["name"])
    return mount, vol


def test_no_ca_by_default(render):
    mount, _ = ca_volume(render("default"))
    assert mount is None
    assert "PGSSLROOTCERT" not in server_env(render("default"))
    assert "sslrootcert" not in str(server(render("default"))[1]["env"])


def test_ca_from_a_configmap_with_verify_full(render):
    """no-autoscaling: host/port URL, sslMode verify-full, CA in a ConfigMap."""
    docs = render("no-autoscaling")
    mount, vol = ca_volume(docs)
    assert mount == {"name": mount["name"], "mountPath": CA_DIR, "readOnly": True}
    assert vol["configMap"]["name"] == "longhaul-postgres-ca"
    assert vol["configMap"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    url = {e["name"]: e for e in server(docs)[1]["env"]}["RESONATE_STORAGE__POSTGRES__URL"]
    assert url["value"].endswith(f"?sslmode=verify-full&sslrootcert={CA_FILE}")
    assert server_env(docs)["PGSSLROOTCERT"] == CA_FILE


def test_ca_from_a_secret_with_a_url_from_a_secret(render):
    """external-postgres: the URL is the user's, so PGSSLROOTCERT names the file
    (sqlx reads it unless the URL has its own sslrootcert)."""
    docs = render("external-postgres")
    mount, vol = ca_volume(docs)
    assert mount and mount["readOnly"] is True
    assert vol["secret"]["secretName"] == "longhaul-postgres-ca"
    assert vol["secret"]["items"] == [{"key": "root.pem", "path": "ca.crt"}]
    assert vol["secret"]["defaultMode"] == 0o444
    assert server_env(docs)["PGSSLROOTCERT"] == CA_FILE


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            [
                "postgresql.external.caCert.secretName=a",
                "postgresql.external.caCert.configMapName=b",
            ],
            "set only one of postgresql.external.caCert.secretName",
        ),
        (
            ["postgresql.external.caCert.secretName=a"],
            "postgresql.external.sslMode=require does not verify",
        ),
    ],
    ids=["secret-and-configmap", "ca-without-verify"],
)
def test_inconsistent_ca_values_fail(helm, sets, message):
    proc = helm.run(*helm.template_args([BASE], sets))
    assert proc.returncode != 0, f"helm template accepted {sets}"
    assert message in proc.stderr, proc.stderr


def test_ca_values_are_typed():
    validator = jsonschema.Draft7Validator(SCHEMA)
    ok = merged({"postgresql": {"external": {"caCert": {"secretName": "x", "key": "ca.pem"}}}})
    assert not list(validator.iter_errors(ok))
    for bad in (
        {"caCert": {"secretName": 3}},
        {"caCert": {"key": ""}},
        {"caCert": {"path": "/etc/ssl"}},
    ):
        assert list(validator.iter_errors(merged({"postgresql": {"external": bad}}))), bad


# --- worker probes -------------------------------------------------------------


def window(probe: dict) -> int:
    """Seconds of failing checks before the probe acts (period x threshold)."""
    return probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)


def test_worker_probe_paths(render):
    c = pod_spec(find(render("default"), "Deployment", WORKER))["containers"][0]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def test_worker_probe_defaults_suit_their_meaning():
    """/readyz is 503 while the SSE listener is not connected: readiness flips
    within ~10 s. /healthz fails only when the listener is dead for good:
    liveness tolerates >= 30 s of failures (a server restart is not a kill)."""
    w = VALUES["worker"]
    assert window(w["readinessProbe"]) <= 10
    assert w["readinessProbe"].get("successThreshold", 1) == 1
    assert window(w["livenessProbe"]) >= 30
    assert w["livenessProbe"]["timeoutSeconds"] >= 3
    assert window(w["startupProbe"]) >= 30


def test_worker_probe_meaning_is_documented():
    text = (CHART / "values.yaml").read_text().split("\nworker:", 1)[1].split("\nresonate:")[0]
    readiness = re.search(r"((?:  #[^\n]*\n)+)  readinessProbe:", text).group(1)
    liveness = re.search(r"((?:  #[^\n]*\n)+)  livenessProbe:", text).group(1)
    assert "SSE" in readiness and "503" in readiness
    assert "dead for good" in liveness


# --- docs ------------------------------------------------------------------------


def test_kubernetes_docs_cover_the_real_server():
    doc = (ROOT / "docs" / "kubernetes.md").read_text()
    for needle in (
        "RESONATE_TASKS__RETRY_TIMEOUT",
        "resonate.taskRetryTimeoutMs",
        f"sslmode=verify-full&sslrootcert={CA_FILE}",
        "postgresql.external.caCert",
        "CrashLoopBackOff",
        "CREATE",
        "IF NOT EXISTS",
        "Postgres 12",
        "/ready",
        "v0.9.8",
        "0.8.1",
    ):
        assert needle in doc, f"docs/kubernetes.md does not mention {needle!r}"
