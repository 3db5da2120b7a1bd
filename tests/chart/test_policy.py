"""Policy checks over the rendered objects of every scenario."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from tests.chart.helpers import (
    CHART,
    CI_DIR,
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    by_kind,
    component,
    find,
    is_test_hook,
    pod_spec,
    workloads,
)

pytestmark = pytest.mark.chart

RECOMMENDED_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
}
SELECTOR_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}

GATEWAY = f"{RELEASE}-gateway"
WORKER = f"{RELEASE}-worker"
RESONATE = f"{RELEASE}-resonate"
POSTGRES = f"{RELEASE}-postgresql"


def containers(doc: dict) -> list[dict]:
    spec = pod_spec(doc) or {}
    return spec.get("initContainers", []) + spec.get("containers", [])


def pod_labels(doc: dict) -> dict:
    if doc["kind"] == "Pod":
        return doc["metadata"]["labels"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return doc["spec"]["template"]["metadata"]["labels"]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def configmap_env(docs: list[dict], workload: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    for c in containers(workload):
        for src in c.get("envFrom", []):
            env.update(find(docs, "ConfigMap", src["configMapRef"]["name"])["data"])
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
    return env


# --- every container ----------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_container_has_requests_and_limits(render, scenario):
    for doc in workloads(render(scenario)):
        for c in containers(doc):
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                for what in ("cpu", "memory"):
                    assert what in res.get(part, {}), (
                        f"{doc['kind']}/{doc['metadata']['name']}:{c['name']} lacks {part}.{what}"
                    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_long_running_container_has_probes(render, scenario):
    checked = 0
    for doc in workloads(render(scenario)):
        if is_test_hook(doc) or doc["kind"] == "CronJob":  # runs to completion, nothing to probe
            continue
        for c in containers(doc):
            where = f"{doc['kind']}/{doc['metadata']['name']}:{c['name']}"
            assert "livenessProbe" in c, f"{where} has no livenessProbe"
            assert "readinessProbe" in c, f"{where} has no readinessProbe"
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_is_hardened(render, scenario):
    for doc in workloads(render(scenario)):
        spec = pod_spec(doc)
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        psc = spec.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True, f"{where}: pod runAsNonRoot"
        assert psc.get("runAsUser", 0) > 0, f"{where}: pod runAsUser must be a non-zero uid"
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccomp"
        assert spec.get("automountServiceAccountToken") is False, f"{where}: token automount"
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), f"{where}: {key}"
        for c in containers(doc):
            csc = c.get("securityContext", {})
            cw = f"{where}:{c['name']}"
            assert csc.get("allowPrivilegeEscalation") is False, f"{cw}: allowPrivilegeEscalation"
            assert csc.get("readOnlyRootFilesystem") is True, f"{cw}: readOnlyRootFilesystem"
            assert "ALL" in csc.get("capabilities", {}).get("drop", []), f"{cw}: drop ALL"
            assert not csc.get("capabilities", {}).get("add"), f"{cw}: adds capabilities"
            assert not csc.get("privileged"), f"{cw}: privileged"
            assert csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{cw}: runAsNonRoot"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_service_accounts_do_not_mount_tokens(render, scenario):
    docs = render(scenario)
    sas = by_kind(docs, "ServiceAccount")
    assert {sa["metadata"]["name"] for sa in sas} == {GATEWAY, WORKER, RESONATE}
    for sa in sas:
        assert sa.get("automountServiceAccountToken") is False
    for doc in workloads(docs):
        name = pod_spec(doc).get("serviceAccountName")
        if name:
            assert name in {sa["metadata"]["name"] for sa in sas}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_recommended_labels_everywhere(render, scenario):
    for doc in render(scenario):
        labels = doc["metadata"].get("labels", {})
        missing = RECOMMENDED_LABELS - set(labels)
        assert not missing, f"{doc['kind']}/{doc['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/part-of"] == "longhaul"
        if pod_spec(doc) is not None:
            assert RECOMMENDED_LABELS <= set(pod_labels(doc))


# --- selectors ----------------------------------------------------------------


def selectors(docs: list[dict]) -> dict[str, object]:
    """Everything that selects pods or names a target, keyed by object."""
    out: dict[str, object] = {}
    for d in docs:
        key = f"{d['kind']}/{d['metadata']['name']}"
        spec = d.get("spec", {})
        if d["kind"] in ("Deployment", "StatefulSet"):
            out[key] = spec["selector"]
            if d["kind"] == "StatefulSet":
                out[key + "#serviceName"] = spec["serviceName"]
                out[key + "#volumeClaimTemplates"] = [
                    v["metadata"] for v in spec.get("volumeClaimTemplates", [])
                ]
        elif d["kind"] == "Service":
            out[key] = spec.get("selector")
        elif d["kind"] == "PodDisruptionBudget":
            out[key] = spec["selector"]
        elif d["kind"] == "HorizontalPodAutoscaler":
            out[key] = spec["scaleTargetRef"]
        elif d["kind"] == "NetworkPolicy":
            out[key] = {k: spec.get(k) for k in ("podSelector", "ingress", "egress")}
        elif d["kind"] == "ServiceMonitor":
            out[key] = spec["selector"]
    return out


def test_selectors_hold_only_stable_labels(render):
    for scenario in SCENARIOS:
        for d in render(scenario):
            if d["kind"] in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
                assert set(d["spec"]["selector"]["matchLabels"]) == SELECTOR_KEYS
                assert set(d["spec"]["selector"]) == {"matchLabels"}
            if d["kind"] == "Service":
                assert set(d["spec"]["selector"]) == SELECTOR_KEYS


def test_selectors_stable_across_chart_and_app_versions(helm, render, tmp_path):
    """An upgrade to another chart version/appVersion keeps every selector."""
    chart = tmp_path / "longhaul"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = "9.8.7-rc.1+build.5"
    meta["appVersion"] = "2099.1.0"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    for scenario in ("kind", "external-postgres"):
        old = render(scenario)
        new = helm.template([CI_DIR / f"{scenario}-values.yaml"], chart=chart)
        # the bump is visible in labels, so the render did change ...
        assert (
            find(new, "Deployment", GATEWAY)["metadata"]["labels"]["app.kubernetes.io/version"]
            == "2099.1.0"
        )
        # ... and no selector did
        assert selectors(new) == selectors(old)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_selector_matches_its_pods(render, scenario):
    docs = render(scenario)
    pods = {d["metadata"]["name"]: pod_labels(d) for d in workloads(docs)}

    def matching(sel: dict) -> list[str]:
        return [n for n, labels in pods.items() if sel.items() <= labels.items()]

    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            assert d["spec"]["selector"]["matchLabels"].items() <= pod_labels(d).items()
        if d["kind"] == "Service":
            assert matching(d["spec"]["selector"]), (
                f"Service/{d['metadata']['name']} selects no pods"
            )
        if d["kind"] == "PodDisruptionBudget":
            assert matching(d["spec"]["selector"]["matchLabels"])


# --- the Resonate server: exactly one ------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_resonate_server_is_one_replica_without_surge_or_hpa(render, scenario):
    docs = render(scenario)
    servers = [d for d in workloads(docs) if component(d) == "resonate"]
    assert [d["kind"] for d in servers] == ["StatefulSet"]
    sts = servers[0]
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"].get("podManagementPolicy", "OrderedReady") == "OrderedReady"
    strategy = sts["spec"].get("updateStrategy", {"type": "RollingUpdate"})
    assert strategy["type"] in ("RollingUpdate", "OnDelete")
    assert "maxSurge" not in str(strategy)
    assert (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1) == 1
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] != sts["metadata"]["name"]
    assert not [p for p in by_kind(docs, "PodDisruptionBudget") if component(p) == "resonate"]


def test_resonate_server_services(render):
    docs = render("default")
    sts = find(docs, "StatefulSet", RESONATE)
    client = find(docs, "Service", RESONATE)
    headless = find(docs, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert client["spec"]["type"] == "ClusterIP" and client["spec"].get("clusterIP") != "None"
    assert {p["name"]: p["port"] for p in client["spec"]["ports"]} == {"api": 8001, "metrics": 9090}
    for svc in (client, headless):
        assert svc["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]


# --- autoscaling and disruption budgets ---------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_hpa_targets_its_deployment(render, scenario, values):
    docs = render(scenario)
    scenario_values = yaml.safe_load((CI_DIR / f"{scenario}-values.yaml").read_text()) or {}
    for comp, name in (("gateway", GATEWAY), ("worker", WORKER)):
        enabled = (
            scenario_values.get(comp, {})
            .get("autoscaling", {})
            .get("enabled", values[comp]["autoscaling"]["enabled"])
        )
        mode = (
            scenario_values.get(comp, {})
            .get("autoscaling", {})
            .get("mode", values[comp]["autoscaling"].get("mode", "cpu"))
        )
        deploy = find(docs, "Deployment", name)
        hpas = [h for h in by_kind(docs, "HorizontalPodAutoscaler") if component(h) == comp]
        if not enabled:
            assert not hpas
            assert deploy["spec"]["replicas"] >= 1
            continue
        if mode == "keda":  # KEDA makes the HPA from the ScaledObject
            assert not hpas
            (scaled,) = by_kind(docs, "ScaledObject")
            assert scaled["spec"]["scaleTargetRef"]["name"] == name
            assert "replicas" not in deploy["spec"], "KEDA-managed Deployment must not set replicas"
            continue
        assert len(hpas) == 1
        hpa = hpas[0]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert "replicas" not in deploy["spec"], "HPA-managed Deployment must not set replicas"
        metrics = {
            m["resource"]["name"] if m["type"] == "Resource" else m["type"]
            for m in hpa["spec"]["metrics"]
        }
        assert ("cpu" if mode == "cpu" else "External") in metrics
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_hpa_values_reach_the_hpa(helm):
    docs = helm.template(
        [CI_DIR / "default-values.yaml"],
        [
            "worker.autoscaling.minReplicas=3",
            "worker.autoscaling.maxReplicas=7",
            "worker.autoscaling.targetCPUUtilizationPercentage=55",
            "worker.autoscaling.targetMemoryUtilizationPercentage=80",
        ],
    )
    hpa = find(docs, "HorizontalPodAutoscaler", WORKER)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 7)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"]
    }
    assert targets == {"cpu": 55, "memory": 80}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pdbs_cover_gateway_and_worker(render, scenario):
    docs = render(scenario)
    pdbs = {component(p): p for p in by_kind(docs, "PodDisruptionBudget")}
    assert set(pdbs) == {"gateway", "worker"}
    for comp, name in (("gateway", GATEWAY), ("worker", WORKER)):
        pdb = pdbs[comp]
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["selector"] == find(docs, "Deployment", name)["spec"]["selector"]
        assert ("minAvailable" in pdb["spec"]) != ("maxUnavailable" in pdb["spec"])


def test_pdb_min_available_scenario(render):
    pdbs = {
        component(p): p["spec"] for p in by_kind(render("no-autoscaling"), "PodDisruptionBudget")
    }
    assert pdbs["gateway"] == {**pdbs["gateway"], "minAvailable": 2}
    assert pdbs["worker"]["minAvailable"] == "50%"


# --- NetworkPolicies ----------------------------------------------------------


def _peer_matches(peer: dict, labels: dict) -> bool:
    """Same-namespace evaluation: podSelector peers match by labels; a peer with
    an empty namespaceSelector and no podSelector matches every pod; ipBlock
    peers match no pod."""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer and peer["namespaceSelector"].get("matchLabels"):
        return False  # other namespaces only, in our evaluation
    sel = peer.get("podSelector")
    if sel is None:
        return "namespaceSelector" in peer
    return sel.get("matchLabels", {}).items() <= labels.items()


def _rule_allows(rule: dict, peers_key: str, other: dict, port: int) -> bool:
    ports = rule.get("ports")
    if ports and not any(p.get("port") == port for p in ports):
        return False
    peers = rule.get(peers_key)
    return not peers or any(_peer_matches(p, other) for p in peers)


def allowed(policies: list[dict], src: dict, dst: dict, port: int) -> bool:
    def selected(pol, labels):
        return pol["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()

    def direction_ok(kind, me, other, peers_key, rules_key):
        pols = [p for p in policies if selected(p, me) and kind in p["spec"]["policyTypes"]]
        if not pols:
            return True
        return any(
            _rule_allows(r, peers_key, other, port)
            for p in pols
            for r in p["spec"].get(rules_key) or []
        )

    return direction_ok("Egress", src, dst, "to", "egress") and direction_ok(
        "Ingress", dst, src, "from", "ingress"
    )


def _labels(docs, comp):
    return next(pod_labels(d) for d in workloads(docs) if component(d) == comp)


@pytest.mark.parametrize("scenario", ["default", "kind", "auth", "external-postgres"])
def test_network_policies_allow_only_the_intended_paths(render, scenario):
    docs = render(scenario)
    pols = by_kind(docs, "NetworkPolicy")
    names = {component(p) for p in pols}
    bundled = scenario == "kind"
    assert names == {"gateway", "worker", "resonate", "test"} | (
        {"postgresql"} if bundled else set()
    )
    pods = {c: _labels(docs, c) for c in ("gateway", "worker", "resonate", "test")}
    pods["stranger"] = {"app": "something-else"}
    if bundled:
        pods["postgresql"] = _labels(docs, "postgresql")

    def expect(src: str, dst: str, port: int, want: bool) -> None:
        got = allowed(pols, pods[src], pods[dst], port)
        verdict = "allowed" if got else "denied"
        assert got == want, f"{scenario}: {src} -> {dst}:{port} is {verdict}"

    # only gateway and worker reach the Resonate server API
    expect("gateway", "resonate", 8001, True)
    expect("worker", "resonate", 8001, True)
    expect("test", "resonate", 8001, False)
    expect("stranger", "resonate", 8001, False)
    # the helm test pod reaches the gateway, and nothing else
    expect("test", "gateway", 8000, True)
    expect("test", "worker", 9100, False)
    expect("stranger", "worker", 9100, False)
    # every policy that restricts egress lets DNS out (Postgres needs none)
    for p in pols:
        if "Egress" in p["spec"]["policyTypes"] and component(p) != "postgresql":
            assert allowed([p], pod_labels_for(docs, p), {"k8s-app": "kube-dns"}, 53), p["metadata"]
    if bundled:
        expect("resonate", "postgresql", 5432, True)
        for other in ("gateway", "worker", "test", "stranger"):
            expect(other, "postgresql", 5432, False)
        expect("postgresql", "stranger", 443, False)


def pod_labels_for(docs, policy):
    return _labels(docs, component(policy))


def test_network_policies_opt_out(render):
    assert not by_kind(render("no-autoscaling"), "NetworkPolicy")


def test_metrics_and_gateway_peers_are_configurable(render):
    docs = render("external-postgres")
    pols = by_kind(docs, "NetworkPolicy")
    rs = find(pols, "NetworkPolicy", RESONATE)
    metrics_rules = [r for r in rs["spec"]["ingress"] if r["ports"][0]["port"] == 9090]
    assert metrics_rules and metrics_rules[0]["from"][0]["namespaceSelector"]
    gw = find(pols, "NetworkPolicy", GATEWAY)
    assert any("ingress-nginx" in str(r.get("from")) for r in gw["spec"]["ingress"])
    egress = rs["spec"]["egress"]
    assert any(
        r.get("to") == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
        and r["ports"] == [{"port": 6432, "protocol": "TCP"}]
        for r in egress
    )


# --- secrets ------------------------------------------------------------------

SECRETISH = re.compile(r"PASSWORD|TOKEN|SECRET|POSTGRES__URL", re.I)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_secret_values_in_plain_env(render, scenario):
    docs = render(scenario)
    for doc in workloads(docs):
        for c in containers(doc):
            for e in c.get("env", []):
                if SECRETISH.search(e["name"]) and "value" in e:
                    # only a URL assembled from a secret-backed variable is allowed
                    assert "$(LONGHAUL_POSTGRES_PASSWORD)" in e["value"], (doc["kind"], e)
    for cm in by_kind(docs, "ConfigMap"):
        for k, v in cm["data"].items():
            assert not SECRETISH.search(k), f"{k} in ConfigMap {cm['metadata']['name']}"
            assert "postgres://" not in v


def test_defaults_render_no_secret_but_the_generated_id_secret(render):
    """Credentials come from existing Secrets; the only Secret a default install renders is
    the gateway's job-id HMAC key, random and kept (like the bundled Postgres password)."""
    for scenario in ("default", "external-postgres", "no-autoscaling"):
        secrets = by_kind(render(scenario), "Secret")
        assert [s["metadata"]["name"] for s in secrets] == [GATEWAY + "-id"], scenario
    assert not by_kind(render("auth"), "Secret")  # auth.idSecret.existingSecret


def test_generated_id_secret_is_random_and_kept(render, helm):
    secret = find(render("default"), "Secret", GATEWAY + "-id")
    import base64

    value = base64.b64decode(secret["data"]["id-secret"]).decode()
    assert len(value) == 48 and value not in (CHART / "values.yaml").read_text()
    again = find(helm.template([CI_DIR / "default-values.yaml"]), "Secret", GATEWAY + "-id")
    assert again["data"] != secret["data"]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    gw = find(render("default"), "Deployment", GATEWAY)
    assert env_of(containers(gw)[0])["LONGHAUL_ID_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": GATEWAY + "-id",
        "key": "id-secret",
    }


def test_bundled_postgres_password_is_generated_not_from_values(render, helm):
    secret = find(render("kind"), "Secret", POSTGRES)
    import base64

    password = base64.b64decode(secret["data"]["password"]).decode()
    url = base64.b64decode(secret["data"]["url"]).decode()
    assert len(password) == 32
    assert password not in (CHART / "values.yaml").read_text()
    assert url == f"postgres://resonate:{password}@{POSTGRES}:5432/resonate?sslmode=disable"
    again = find(helm.template([CI_DIR / "kind-values.yaml"]), "Secret", POSTGRES)
    assert again["data"]["password"] != secret["data"]["password"]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_existing_secret_for_bundled_postgres_renders_no_secret(helm):
    docs = helm.template(
        [CI_DIR / "kind-values.yaml"],
        ["postgresql.bundled.existingSecret=my-pg", "postgresql.bundled.passwordKey=pw"],
    )
    assert not by_kind(docs, "Secret")
    pg = find(docs, "StatefulSet", POSTGRES)
    ref = env_of(containers(pg)[0])["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "my-pg", "key": "pw"}


# --- grace periods ------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_grace_periods_exceed_drain_timeouts(render, scenario):
    docs = render(scenario)
    gw = find(docs, "Deployment", GATEWAY)
    env = configmap_env(docs, gw)
    pre_stop = containers(gw)[0].get("lifecycle", {}).get("preStop", {}).get("exec", {})
    sleep = int(pre_stop["command"][1]) if pre_stop else 0
    graceful = float(env["LONGHAUL_GRACEFUL_TIMEOUT_S"])
    assert pod_spec(gw)["terminationGracePeriodSeconds"] > graceful + sleep
    # a long poll ends before gunicorn's graceful timeout (the gateway refuses otherwise)
    assert float(env["LONGHAUL_MAX_WAIT_S"]) < graceful
    wk = find(docs, "Deployment", WORKER)
    env = configmap_env(docs, wk)
    assert pod_spec(wk)["terminationGracePeriodSeconds"] > float(
        env["LONGHAUL_WORKER_DRAIN_TIMEOUT_S"]
    )
    # the helm test's long polls stay within the gateway's bound
    hook = next(d for d in by_kind(docs, "Pod") if is_test_hook(d))
    waits = re.findall(r"\?wait=(\d+)", containers(hook)[0]["command"][2])
    assert waits and all(
        int(w) <= float(configmap_env(docs, gw)["LONGHAUL_MAX_WAIT_S"]) for w in waits
    )


# --- the runtime interface (docs/runtime-interface.md) ------------------------


def test_gateway_follows_the_runtime_interface(render, runtime_env):
    docs = render("auth")
    gw = find(docs, "Deployment", GATEWAY)
    c = containers(gw)[0]
    assert c["command"] == ["python", "-m", "services.gateway"]
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert (c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"]) == (
        "/healthz",
        "/readyz",
    )
    env = configmap_env(docs, gw)
    names = set(env) | set(env_of(c))
    assert names <= runtime_env["gateway"], names - runtime_env["gateway"]
    assert env["RESONATE_URL"] == f"http://{RESONATE}.{NAMESPACE}.svc:8001"
    assert env["PORT"] == "8000"
    assert "RESONATE_TOKEN" not in env_of(c)  # it mints its own from the private key
    tmp = "/tmp"
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert tmp in mounts
    key_dir = env["LONGHAUL_RESONATE_AUTH_PRIVATE_KEY"].rsplit("/", 1)[0]
    assert mounts[key_dir]["readOnly"] is True
    assert any(
        env["PROMETHEUS_MULTIPROC_DIR"].startswith(m + "/") for m in set(mounts) - {tmp, key_dir}
    ), "PROMETHEUS_MULTIPROC_DIR must be inside its own emptyDir (the gateway wipes it)"
    vols = {v["name"]: v for v in pod_spec(gw)["volumes"]}
    # Scratch space, the API key file from its Secret (auth.apiKeys), the Resonate signing key.
    assert vols.pop("api-keys")["secret"]["secretName"] == "longhaul-api-keys"
    assert all("emptyDir" in v for n, v in vols.items() if n != mounts[key_dir]["name"])


def test_worker_follows_the_runtime_interface(helm, runtime_env):
    docs = helm.template(
        [CI_DIR / "auth-values.yaml"], ["worker.leaseTtlSeconds=7", "worker.concurrency=3"]
    )
    wk = find(docs, "Deployment", WORKER)
    c = containers(wk)[0]
    assert c["command"] == ["python", "-m", "services.worker"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "metrics"}
    env = configmap_env(docs, wk)
    names = set(env) | set(env_of(c))
    assert names <= runtime_env["worker"], names - runtime_env["worker"]
    assert env["LONGHAUL_WORKER_TTL_S"] == "7" and env["LONGHAUL_WORKER_CONCURRENCY"] == "3"
    assert env_of(c)["LONGHAUL_WORKER_PID"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}
    }
    assert env["LONGHAUL_RESONATE_AUTH_PRIVATE_KEY"] == "/etc/longhaul/resonate-auth/private.pem"
    assert "RESONATE_TOKEN" not in env_of(c)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_resonate_server_configuration(render, scenario):
    docs = render(scenario)
    sts = find(docs, "StatefulSet", RESONATE)
    c = containers(sts)[0]
    assert c["image"].startswith("resonatehqio/resonate")
    env = configmap_env(docs, sts)
    assert env["RESONATE_SERVER__PORT"] == "8001"
    assert env["RESONATE_SERVER__URL"] == f"http://{RESONATE}.{NAMESPACE}.svc:8001"
    assert env["RESONATE_OBSERVABILITY__METRICS_PORT"] == "9090"
    assert env["RESONATE_STORAGE__TYPE"] == "postgres"
    url = env_of(c)["RESONATE_STORAGE__POSTGRES__URL"]
    if "valueFrom" in url:
        assert "secretKeyRef" in url["valueFrom"]
    else:
        assert "$(LONGHAUL_POSTGRES_PASSWORD)" in url["value"]
        assert "secretKeyRef" in env_of(c)["LONGHAUL_POSTGRES_PASSWORD"]["valueFrom"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "api"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "api"}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"api": 8001, "metrics": 9090}


def test_resonate_auth_public_key_comes_from_a_secret(render):
    docs = render("auth")
    sts = find(docs, "StatefulSet", RESONATE)
    env = configmap_env(docs, sts)
    key_path = env["RESONATE_AUTH__PUBLICKEY"]
    mount = next(
        m for m in containers(sts)[0]["volumeMounts"] if key_path.startswith(m["mountPath"])
    )
    vol = next(v for v in pod_spec(sts)["volumes"] if v["name"] == mount["name"])
    assert vol["secret"]["secretName"] == "longhaul-resonate-auth"
    assert vol["secret"]["items"][0]["path"] == key_path.rsplit("/", 1)[1]
    assert env["RESONATE_AUTH__ISS"] == "longhaul" and env["RESONATE_AUTH__AUD"] == "resonate"
    assert "RESONATE_AUTH__PUBLICKEY" not in configmap_env(
        render("default"), find(render("default"), "StatefulSet", RESONATE)
    )


@pytest.mark.parametrize("component", [GATEWAY, WORKER])
def test_gateway_and_worker_mint_from_the_private_key_secret(render, component):
    """The recommended setup: the pair's private key mounted, the server's iss/aud to mint with."""
    docs = render("auth")
    deploy = find(docs, "Deployment", component)
    env = configmap_env(docs, deploy)
    server = configmap_env(docs, find(docs, "StatefulSet", RESONATE))
    assert (env["RESONATE_AUTH__ISS"], env["RESONATE_AUTH__AUD"]) == (
        server["RESONATE_AUTH__ISS"],
        server["RESONATE_AUTH__AUD"],
    )
    assert env["LONGHAUL_RESONATE_AUTH_TTL_S"] == "900"
    key_path = env["LONGHAUL_RESONATE_AUTH_PRIVATE_KEY"]
    c = containers(deploy)[0]
    mount = next(m for m in c["volumeMounts"] if key_path.startswith(m["mountPath"] + "/"))
    vol = next(v for v in pod_spec(deploy)["volumes"] if v["name"] == mount["name"])
    assert vol["secret"]["secretName"] == "longhaul-resonate-signing"
    assert vol["secret"]["items"] == [{"key": "private.pem", "path": "private.pem"}]
    assert vol["secret"]["defaultMode"] == 0o440  # group-readable: fsGroup is the app's
    assert pod_spec(deploy)["securityContext"]["fsGroup"] == 10001
    assert "RESONATE_TOKEN" not in env_of(c)


@pytest.mark.parametrize("component", [GATEWAY, WORKER])
def test_a_static_token_comes_from_its_secret_and_is_watched(render, component):
    docs = render("auth-static-token")
    deploy = find(docs, "Deployment", component)
    ref = env_of(containers(deploy)[0])["RESONATE_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "longhaul-resonate-token", "key": "token"}
    env = configmap_env(docs, deploy)
    assert env["LONGHAUL_RESONATE_AUTH_WARN_S"] == "86400"
    assert "LONGHAUL_RESONATE_AUTH_PRIVATE_KEY" not in env
    # no signing key mounted (the API key file is the gateway's clients' business)
    assert all("secret" not in v for v in pod_spec(deploy)["volumes"] if v["name"] != "api-keys")


def test_external_postgres_url_from_values(render):
    sts = find(render("default"), "StatefulSet", RESONATE)
    env = env_of(containers(sts)[0])
    assert env["RESONATE_STORAGE__POSTGRES__URL"]["value"] == (
        "postgres://resonate:$(LONGHAUL_POSTGRES_PASSWORD)@postgres.example.internal:5432/resonate"
        "?sslmode=require"
    )
    assert env["LONGHAUL_POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "longhaul-postgres",
        "key": "password",
    }
    names = [e["name"] for e in containers(sts)[0]["env"]]
    assert names.index("LONGHAUL_POSTGRES_PASSWORD") < names.index(
        "RESONATE_STORAGE__POSTGRES__URL"
    )
    sts = find(render("external-postgres"), "StatefulSet", RESONATE)
    url = env_of(containers(sts)[0])["RESONATE_STORAGE__POSTGRES__URL"]
    assert url["valueFrom"]["secretKeyRef"] == {"name": "longhaul-postgres-url", "key": "url"}


# --- images, checksums, hook pod, monitors ------------------------------------


def test_images_follow_values(render):
    def images(docs):
        return {component(d): containers(d)[0]["image"] for d in workloads(docs)}

    assert images(render("default")) == {
        "gateway": "longhaul-gateway:0.1.0",
        "worker": "longhaul-worker:0.1.0",
        "resonate": "resonatehqio/resonate:v0.9.8",
        "test": "longhaul-gateway:0.1.0",
    }
    kind = images(render("kind"))
    assert kind["gateway"] == kind["test"] == "longhaul-gateway:dev"
    assert kind["postgresql"].startswith("postgres:")
    ext = images(render("external-postgres"))
    assert ext["gateway"] == "registry.example.com/longhaul/gateway@sha256:" + "0" * 63 + "1"
    assert ext["resonate"].startswith("resonatehqio/resonate@sha256:")


def test_checksum_annotations_roll_pods_on_config_change(helm, render):
    base = render("default")
    changed = helm.template([CI_DIR / "default-values.yaml"], ["gateway.logLevel=DEBUG"])

    def checksum(docs, kind, name):
        return (
            docs
            and find(docs, kind, name)["spec"]["template"]["metadata"]["annotations"][
                "checksum/config"
            ]
        )

    for kind, name in (("Deployment", GATEWAY), ("Deployment", WORKER), ("StatefulSet", RESONATE)):
        assert re.fullmatch(r"[0-9a-f]{64}", checksum(base, kind, name))
    assert checksum(changed, "Deployment", GATEWAY) != checksum(base, "Deployment", GATEWAY)
    assert checksum(changed, "Deployment", WORKER) == checksum(base, "Deployment", WORKER)


def test_helm_test_pod_submits_an_echo_job(render):
    docs = render("default")
    pods = [d for d in by_kind(docs, "Pod") if is_test_hook(d)]
    assert len(pods) == 1
    pod = pods[0]
    c = containers(pod)[0]
    gw_image = containers(find(docs, "Deployment", GATEWAY))[0]["image"]
    assert c["image"] == gw_image, "the test pod must reuse the gateway image"
    assert c["command"][:2] == ["python", "-c"]
    script = c["command"][2]
    compile(script, "helm-test", "exec")  # valid Python
    for needle in ('"POST", "/v1/jobs"', '"kind": "echo"', "/v1/jobs/{job['id']}", "succeeded"):
        assert needle in script
    assert pod["spec"]["restartPolicy"] == "Never"
    env = env_of(c)
    assert env["GATEWAY_URL"]["value"] == f"http://{GATEWAY}.{NAMESPACE}.svc:80"


def test_service_monitors(render):
    docs = render("external-postgres")
    monitors = by_kind(docs, "ServiceMonitor")
    assert {component(m) for m in monitors} == {"gateway", "worker", "resonate"}
    services = by_kind(docs, "Service")
    for m in monitors:
        port = m["spec"]["endpoints"][0]["port"]
        sel = m["spec"]["selector"]["matchLabels"]
        hits = [
            s
            for s in services
            if sel.items() <= s["metadata"]["labels"].items()
            and port in {p["name"] for p in s["spec"]["ports"]}
        ]
        assert len(hits) == 1, (m["metadata"]["name"], [s["metadata"]["name"] for s in hits])
        assert m["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert not by_kind(render("default"), "ServiceMonitor")


# --- names and files ----------------------------------------------------------

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_names_fit_with_a_long_release_name(helm):
    long_release = "a-very-long-release-name-for-longhaul-in-production-x"
    proc = helm.run(
        "template",
        long_release,
        str(CHART),
        "-f",
        str(CI_DIR / "kind-values.yaml"),
        "--kube-version",
        "1.31.0",
        check=True,
    )
    for d in [d for d in yaml.safe_load_all(proc.stdout) if d]:
        name = d["metadata"]["name"]
        assert DNS1123.match(name) and len(name) <= 63, name
        if d["kind"] == "StatefulSet":
            assert len(name) <= 52, f"{name}: pod/revision label values would exceed 63"


TEMPLATE_FILE = re.compile(
    r"^(gateway|worker|resonate|postgresql|retention|test|monitoring)-"
    r"(deployment|statefulset|service|hpa|pdb|configmap|secret|serviceaccount|networkpolicy"
    r"|servicemonitor|cronjob|pod|scaledobject|triggerauthentication|prometheusrule)\.yaml$"
)
FILE_KIND = {"hpa": "HorizontalPodAutoscaler", "pdb": "PodDisruptionBudget"}


def test_template_files_are_named_component_kind(helm):
    files = [p for p in (CHART / "templates").rglob("*") if p.is_file()]
    for p in files:
        if (p.name.startswith("_") and p.suffix == ".tpl") or p.name == "NOTES.txt":
            continue
        assert TEMPLATE_FILE.match(p.name), f"{p.name} is not <component>-<kind>.yaml"
    # and each file renders objects of its own component and kind
    for scenario in ("kind", "external-postgres", "keda", "monitoring"):
        out = helm.run(*helm.template_args([CI_DIR / f"{scenario}-values.yaml"]), check=True).stdout
        for chunk in out.split("\n---\n"):
            m = re.search(r"# Source: longhaul/templates/(?:tests/)?([^\n]+)", chunk)
            doc = yaml.safe_load(chunk)
            if not m or not doc:
                continue
            comp, kind = TEMPLATE_FILE.match(m.group(1)).groups()
            assert doc["metadata"]["labels"]["app.kubernetes.io/component"] == comp, m.group(1)
            assert doc["kind"].lower() == FILE_KIND.get(kind, kind).lower(), m.group(1)


def test_names_and_labels_come_from_helpers():
    for p in (CHART / "templates").rglob("*.yaml"):
        text = p.read_text()
        assert "app.kubernetes.io/" not in text, f"{p.name}: labels must come from _helpers.tpl"
        for m in re.finditer(r"^metadata:\n(?:  [^\n]*\n)*?  name: ([^\n]+)", text, re.M):
            assert 'include "longhaul.' in m.group(1), (
                f"{p.name}: name {m.group(1)!r} not from helpers"
            )
