"""skaffold.yaml (no skaffold binary here): structure, artifacts that match the
Dockerfiles, and image values that the chart really deploys."""

from __future__ import annotations

import re

import pytest
import yaml

from scripts.chart_readme import lookup
from tests.chart.helpers import CHART, NAMESPACE, RELEASE, ROOT, find

pytestmark = pytest.mark.chart

SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
TEMPLATE = re.compile(r"^\{\{\.IMAGE_(REPO|TAG)_(\w+)\}\}$")


def releases():
    """(where, release) for the top-level deploy and every profile's."""
    out = [("base", r) for r in SKAFFOLD["deploy"]["helm"]["releases"]]
    for p in SKAFFOLD.get("profiles", []):
        for r in p.get("deploy", {}).get("helm", {}).get("releases", []):
            out.append((p["name"], r))
    return out


def test_api_version_and_kind():
    assert re.fullmatch(r"skaffold/v4beta\d+", SKAFFOLD["apiVersion"])
    assert SKAFFOLD["kind"] == "Config"


def test_artifacts_match_the_dockerfiles():
    arts = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
    assert set(arts) == {"gateway", "worker"}
    for name, art in arts.items():
        assert art.get("context", ".") == "."
        assert art["docker"]["dockerfile"] == f"Dockerfile.{name}"
        assert (ROOT / art["docker"]["dockerfile"]).exists()


def test_every_release_deploys_the_built_images(helm, values):
    arts = {a["image"] for a in SKAFFOLD["build"]["artifacts"]}
    assert len(releases()) >= 2
    for where, rel in releases():
        assert (ROOT / rel["chartPath"]).resolve() == CHART
        assert rel["name"] == RELEASE and rel.get("namespace") == NAMESPACE
        for f in rel.get("valuesFiles", []):
            assert (ROOT / f).exists(), f"{where}: {f}"
        tmpl = rel["setValueTemplates"]
        used = set()
        for key, value in tmpl.items():
            lookup(values, key)  # the key exists in values.yaml
            m = TEMPLATE.match(value)
            assert m, f"{where}: {key}: {value}"
            part, art = m.groups()
            assert art in arts
            assert key == f"{art}.image.{'repository' if part == 'REPO' else 'tag'}", key
            used.add((art, part))
        assert used == {(a, p) for a in arts for p in ("REPO", "TAG")}, where

    # the chart really uses those values for the matching workload
    sets = []
    for art in arts:
        sets += [f"{art}.image.repository=registry.test/built-{art}", f"{art}.image.tag=t-{art}"]
    files = [ROOT / f for f in releases()[0][1]["valuesFiles"]]
    docs = helm.template(files, sets)
    for art in arts:
        deploy = find(docs, "Deployment", f"{RELEASE}-{art}")
        image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"registry.test/built-{art}:t-{art}"


def test_kind_profile():
    prof = next(p for p in SKAFFOLD["profiles"] if p["name"] == "kind")
    assert prof["build"]["local"]["push"] is False
    assert prof["deploy"]["kubeContext"].startswith("kind-")
    rel = prof["deploy"]["helm"]["releases"][0]
    assert "charts/longhaul/ci/kind-values.yaml" in rel["valuesFiles"]
    kind_values = yaml.safe_load((ROOT / "charts/longhaul/ci/kind-values.yaml").read_text())
    assert kind_values["postgresql"]["bundled"]["enabled"] is True
    kind_cfg = yaml.safe_load((ROOT / "k8s/kind-config.yaml").read_text())
    assert prof["deploy"]["kubeContext"] == f"kind-{kind_cfg['name']}"


def test_kind_profile_port_forwards_the_gateway(render):
    prof = next(p for p in SKAFFOLD["profiles"] if p["name"] == "kind")
    fwd = prof["portForward"][0]
    svc = find(render("kind"), "Service", fwd["resourceName"])
    assert fwd["resourceType"] == "service"
    assert svc["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"
    assert fwd["namespace"] == NAMESPACE
    assert fwd["port"] == svc["spec"]["ports"][0]["port"]


def test_profiles_are_not_patched_by_index():
    for prof in SKAFFOLD.get("profiles", []):
        for patch in prof.get("patches", []):
            assert not re.search(r"/\d+(/|$)", patch["path"]), f"{prof['name']}: {patch['path']}"
