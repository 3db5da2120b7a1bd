"""The chart's gateway authentication (auth.*): refuse to install unconfigured, mount keys
so that Secret updates arrive, wire OIDC, warn when off on purpose.

Fail on the chart before auth.*: it rendered with default values and had no auth key."""

from __future__ import annotations

import pytest

from services.gateway.settings import GatewaySettings
from tests.chart.helpers import CHART, CI_DIR, by_kind, find, pod_spec
from tests.chart.test_policy import GATEWAY, configmap_env, containers, env_of

pytestmark = pytest.mark.chart

PG = ["postgresql.external.host=db", "postgresql.external.existingSecret=pg"]


def test_default_values_fail_with_how_to_configure_auth(helm):
    for sets in ([], PG):
        proc = helm.run(*helm.template_args([], sets))
        assert proc.returncode != 0
        err = proc.stderr
        assert "auth.mode=apiKeys needs auth.apiKeys.existingSecret" in err, err
        assert "python -m services.gateway.keys new" in err
        assert "auth.mode=oidc" in err and "auth.mode=none" in err


def test_oidc_mode_needs_its_settings(helm):
    proc = helm.run(*helm.template_args([], [*PG, "auth.mode=oidc", "auth.oidc.issuer=x"]))
    assert proc.returncode != 0
    assert "auth.mode=oidc needs auth.oidc.issuer, auth.oidc.audience and auth.oidc.jwksUrl" in (
        proc.stderr
    )


def test_bad_mode_is_a_schema_error(helm):
    proc = helm.run(*helm.template_args([CI_DIR / "default-values.yaml"], ["auth.mode=off"]))
    assert proc.returncode != 0 and "/auth/mode" in proc.stderr


def test_api_key_secret_is_mounted_as_a_directory(helm):
    docs = helm.template([], [*PG, "auth.apiKeys.existingSecret=my-keys"])
    gw = find(docs, "Deployment", GATEWAY)
    env = configmap_env(docs, gw)
    assert env["LONGHAUL_AUTH_MODE"] == "required"
    path = env["LONGHAUL_AUTH_API_KEYS_FILE"]
    mount = next(m for m in containers(gw)[0]["volumeMounts"] if m["name"] == "api-keys")
    # No subPath: a subPath mount never sees the Secret's updates.
    assert "subPath" not in mount and mount["readOnly"] is True
    assert path == f"{mount['mountPath']}/api-keys"
    vol = next(v for v in pod_spec(gw)["volumes"] if v["name"] == "api-keys")
    assert vol["secret"]["secretName"] == "my-keys"
    assert vol["secret"]["items"] == [{"key": "api-keys", "path": "api-keys"}]
    assert "LONGHAUL_AUTH_OIDC_ISSUER" not in env


def test_the_gateway_accepts_what_the_chart_configures(render, tmp_path, monkeypatch):
    """The ConfigMap's auth settings build a GatewaySettings (with the mounted files present)."""
    for scenario in ("default", "external-postgres", "kind"):
        docs = render(scenario)
        env = configmap_env(docs, find(docs, "Deployment", GATEWAY))
        auth_env = {k: v for k, v in env.items() if k.startswith("LONGHAUL_AUTH")}
        if "LONGHAUL_AUTH_API_KEYS_FILE" in auth_env:
            keys = tmp_path / "keys"
            keys.write_text("k1 acme jobs:read sha256:" + "0" * 64 + "\n")
            auth_env["LONGHAUL_AUTH_API_KEYS_FILE"] = str(keys)
        for name, value in {**auth_env, "LONGHAUL_ID_SECRET": "x" * 48}.items():
            monkeypatch.setenv(name, value)
        settings = GatewaySettings()
        assert settings.auth_mode == ("none" if scenario == "kind" else "required"), scenario
        for name in auth_env:
            monkeypatch.delenv(name)


def test_oidc_scenario(render):
    docs = render("external-postgres")
    gw = find(docs, "Deployment", GATEWAY)
    env = configmap_env(docs, gw)
    assert env["LONGHAUL_AUTH_OIDC_ISSUER"] == "https://login.example.com/"
    assert env["LONGHAUL_AUTH_OIDC_AUDIENCE"] == "longhaul"
    assert env["LONGHAUL_AUTH_OIDC_JWKS_URL"] == "https://login.example.com/.well-known/jwks.json"
    assert (env["LONGHAUL_AUTH_OIDC_TENANT_CLAIM"], env["LONGHAUL_AUTH_OIDC_SCOPES_CLAIM"]) == (
        "org",
        "scp",
    )
    assert "api-keys" not in {v["name"] for v in pod_spec(gw)["volumes"]}
    # The gateway may fetch the JWKS: HTTPS egress beside DNS and the Resonate server.
    pol = find(by_kind(docs, "NetworkPolicy"), "NetworkPolicy", GATEWAY)
    assert {"ports": [{"port": 443, "protocol": "TCP"}]} in pol["spec"]["egress"]
    # ... which the default (API keys) scenario does not open.
    pol = find(by_kind(render("default"), "NetworkPolicy"), "NetworkPolicy", GATEWAY)
    assert all(p["port"] != 443 for r in pol["spec"]["egress"] for p in r.get("ports", []))


def test_auth_none_is_explicit_and_warned(helm, render):
    env = configmap_env(render("kind"), find(render("kind"), "Deployment", GATEWAY))
    assert env["LONGHAUL_AUTH_MODE"] == "none"
    notes = helm.run(
        "install",
        "--dry-run=client",
        "longhaul",
        str(CHART),
        "-n",
        "longhaul",
        "-f",
        str(CI_DIR / "kind-values.yaml"),
        check=True,
    ).stdout
    assert "WARNING: gateway authentication is OFF (auth.mode=none)" in notes
    notes = helm.run(
        "install",
        "--dry-run=client",
        "longhaul",
        str(CHART),
        "-n",
        "longhaul",
        "-f",
        str(CI_DIR / "default-values.yaml"),
        check=True,
    ).stdout
    assert "authentication is OFF" not in notes and "Authorization: Bearer" in notes


def test_existing_id_secret_and_helm_test_key(render):
    docs = render("auth")
    gw = find(docs, "Deployment", GATEWAY)
    assert env_of(containers(gw)[0])["LONGHAUL_ID_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "longhaul-gateway-id",
        "key": "id-secret",
    }
    hook = next(d for d in by_kind(docs, "Pod") if "test" in d["metadata"]["name"])
    key = env_of(containers(hook)[0])["LONGHAUL_TEST_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert key == {"name": "longhaul-helm-test-key", "key": "api-key"}
    assert "Authorization" in containers(hook)[0]["command"][2]
