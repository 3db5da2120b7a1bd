"""GitHub workflows: actionlint (with shellcheck) clean, and shaped as issue 3
asks (ci runs `make test`; kind installs the chart and runs `helm test`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.chart.helpers import CI_DIR, ROOT, run_tool, tool_env

pytestmark = pytest.mark.chart

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(workflow: dict) -> list[dict]:
    return [s for job in workflow["jobs"].values() for s in job["steps"]]


def run_text(workflow: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(workflow))


def actionlint(*paths, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_tool("actionlint", "-no-color", *paths, timeout=120, cwd=cwd)


def test_shellcheck_is_available_to_actionlint():
    proc = subprocess.run(
        ["shellcheck", "--version"], capture_output=True, text=True, env=tool_env()
    )
    assert proc.returncode == 0


def test_actionlint_clean():
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert {f.name for f in files} >= {"ci.yaml", "kind.yaml"}
    proc = actionlint(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_and_shellcheck_catch_problems(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.nope.nope }} $UNQUOTED\n"
        "      - uses: actions/checkout@v5\n        with:\n          no-such-input: 1\n"
    )
    proc = actionlint(bad, cwd=tmp_path)
    assert proc.returncode != 0
    assert "shellcheck" in proc.stdout, proc.stdout  # SC2086 on $UNQUOTED
    assert "no-such-input" in proc.stdout


def test_actions_pinned_by_major_version():
    for path in WORKFLOWS.glob("*.y*ml"):
        for step in steps(yaml.safe_load(path.read_text())):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_ci_runs_make_test_on_ubuntu():
    wf = load("ci.yaml")
    job = next(iter(wf["jobs"].values()))
    assert job["runs-on"] == "ubuntu-latest"
    assert any(s.get("run", "").strip() == "make test" for s in job["steps"])
    assert wf["permissions"] == {"contents": "read"}


def test_kind_workflow_installs_the_chart_and_runs_helm_test(render):
    wf = load("kind.yaml")
    job = next(iter(wf["jobs"].values()))
    assert job["runs-on"] == "ubuntu-latest"
    kind_step = next(s for s in job["steps"] if s.get("uses", "").startswith("helm/kind-action@"))
    assert kind_step["with"]["config"] == "k8s/kind-config.yaml"
    text = run_text(wf)
    env = wf["env"]
    # both images built with docker from their Dockerfiles, loaded into kind
    built = dict(re.findall(r"docker build -f (Dockerfile\.\w+) -t \"?([\w.-]+):", text))
    assert built == {
        "Dockerfile.gateway": "longhaul-gateway",
        "Dockerfile.worker": "longhaul-worker",
    }
    assert "kind load docker-image" in text
    # installed with the kind scenario, with exactly the images just built
    assert "helm install" in text
    assert f"-f {CI_DIR.relative_to(ROOT)}/kind-chaos-values.yaml" in text
    assert "python -m tests.chaos" in text and "--target k8s" in text
    for repo in built.values():
        comp = repo.removeprefix("longhaul-")
        assert f"--set {comp}.image.repository={repo}" in text
        assert f'--set {comp}.image.tag="$IMAGE_TAG"' in text
    # waits on the objects the chart really creates
    docs = render("kind")
    names = {
        f"{d['kind'].lower()}/{d['metadata']['name']}"
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    }
    waited = {
        f"{kind}/{name.replace('$RELEASE', env['RELEASE']).replace('"', '')}"
        for kind, name in re.findall(r"rollout status (\w+)/(\S+)", text)
    }
    assert waited == names
    assert "helm test" in text
    # ... once more with Resonate auth on: openssl key pair, both Secrets, the auth overlay
    assert job["strategy"]["matrix"]["resonate-auth"] == ["off", "on"]
    auth = yaml.safe_load((CI_DIR / "kind-chaos-auth-values.yaml").read_text())["resonate"]["auth"]
    for secret in (auth["publicKeySecret"]["name"], auth["privateKeySecret"]["name"]):
        assert f"create secret generic {secret}" in text
    assert "openssl genpkey -algorithm EC" in text
    assert f"-f {CI_DIR.relative_to(ROOT)}/kind-chaos-auth-values.yaml" in text
    assert "LONGHAUL_CHAOS_RESONATE_TOKEN" in text and f"--iss {auth['issuer']}" in text
    assert f"--aud {auth['audience']}" in text
    dump = [s for s in job["steps"] if s.get("if") == "failure()"]
    assert dump and "kubectl" in dump[0]["run"] and " logs " in dump[0]["run"]
