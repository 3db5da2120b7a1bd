"""The chart matches the real Resonate server v0.9.8 (issue 11, part 7): the
task retry timer comes from a value, the image stays on the server the pinned
SDK works with, a private CA for `sslmode=verify-full` can be mounted, and the
worker probes suit what /healthz and /readyz mean."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.chart.helpers import CHART, CI_DIR, find, pod_spec

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
