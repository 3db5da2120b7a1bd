"""Dockerfile.gateway / Dockerfile.worker: hadolint-clean and shaped as the
chart and docs/runtime-interface.md expect."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.chart.helpers import CHART, ROOT, run_tool

pytestmark = pytest.mark.chart

IMAGES = {
    # dockerfile: (module, port, chart values section)
    "Dockerfile.gateway": ("services.gateway", 8000, "gateway"),
    "Dockerfile.worker": ("services.worker", 9100, "worker"),
}
BASE = "python:3.12-slim-bookworm"


def instructions(path) -> list[tuple[int, str, str]]:
    """(stage index, INSTRUCTION, arguments) with continuations joined."""
    out, stage, buf = [], -1, ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        buf += line.removesuffix("\\").strip() + " "
        if line.endswith("\\"):
            continue
        word, _, args = buf.strip().partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        out.append((stage, word, args.strip()))
        buf = ""
    return out


def hadolint(*paths) -> subprocess.CompletedProcess[str]:
    return run_tool("hadolint", "--no-color", *paths, timeout=60)


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_hadolint_clean(dockerfile):
    proc = hadolint(ROOT / dockerfile)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_catches_problems(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n"
        "RUN pip install uv\nCMD python -m app\n"
    )
    proc = hadolint(bad)
    assert proc.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3013", "DL3025"):
        assert rule in proc.stdout, proc.stdout


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_dockerfile_shape(dockerfile, values):
    module, port, section = IMAGES[dockerfile]
    ins = instructions(ROOT / dockerfile)
    froms = [a for _, w, a in ins if w == "FROM"]
    assert len(froms) == 2, "multi-stage: builder + runtime"
    assert froms[0].split()[0] == froms[1].split()[0] == BASE
    assert froms[0].lower().endswith("as builder")
    final = max(s for s, _, _ in ins)
    builder = [(w, a) for s, w, a in ins if s == 0]
    runtime = [(w, a) for s, w, a in ins if s == final]

    # builder: pinned uv from pip, lock first (cached layer), then the code
    runs = [a for w, a in builder if w == "RUN"]
    assert any(re.search(r"pip install --no-cache-dir uv==\d+\.\d+\.\d+$", r) for r in runs), runs
    order = [a for w, a in builder if w in ("COPY", "RUN")]
    i_lock = next(i for i, a in enumerate(order) if a.startswith("pyproject.toml uv.lock"))
    i_sync = next(
        i for i, a in enumerate(order) if "uv sync --frozen --no-dev --no-install-project" in a
    )
    i_code = next(i for i, a in enumerate(order) if a.startswith("services/"))
    assert i_lock < i_sync < i_code
    assert any("compileall" in a for a in order[i_code:]), "bytecode compiled at build time"
    assert any("UV_COMPILE_BYTECODE=1" in a for w, a in builder if w == "ENV")

    # runtime: no build tools, venv + code copied, non-root numeric user, read-only friendly
    assert not [a for w, a in runtime if w == "RUN" and re.search(r"pip|uv |apt|gcc|make", a)]
    copies = [a for w, a in runtime if w == "COPY"]
    assert "--from=builder /app/.venv /app/.venv" in copies
    assert "--from=builder /app/services /app/services" in copies
    env = " ".join(a for w, a in runtime if w == "ENV")
    assert "PATH=/app/.venv/bin:$PATH" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert ("WORKDIR", "/app") in runtime
    users = [a for w, a in runtime if w == "USER"]
    assert users and re.fullmatch(r"\d+(:\d+)?", users[-1]), "USER must be numeric"
    uid = int(users[-1].split(":")[0])
    assert uid >= 10000
    assert uid == values["podSecurityContext"]["runAsUser"], "chart runAsUser = image uid"
    labels = " ".join(a for w, a in runtime if w == "LABEL")
    for key in ("org.opencontainers.image.title", "org.opencontainers.image.licenses"):
        assert key in labels
    assert ("EXPOSE", str(port)) in runtime
    cmds = [a for w, a in runtime if w in ("CMD", "ENTRYPOINT")]
    assert cmds and all(a.startswith("[") for a in cmds), "exec form only"
    assert json.loads([a for w, a in runtime if w == "CMD"][-1]) == ["python", "-m", module]
    # the chart runs exactly this command on this port
    assert values[section].get("port", values[section].get("metricsPort")) == port


def test_both_images_pin_the_same_uv():
    pins = {re.search(r"uv==([\d.]+)", (ROOT / d).read_text()).group(1) for d in IMAGES}
    assert len(pins) == 1


def test_chart_runs_the_image_commands(render):
    docs = render("default")
    commands = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"][
            "containers"
        ][0]["command"]
        for d in docs
        if d["kind"] == "Deployment"
    }
    for dockerfile, (_, _, section) in IMAGES.items():
        cmd = json.loads([a for _, w, a in instructions(ROOT / dockerfile) if w == "CMD"][-1])
        assert commands[section] == cmd


def test_dockerignore_keeps_the_context_small():
    lines = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "allow-list style"
    assert {"!pyproject.toml", "!uv.lock", "!services"} <= set(lines)
    assert "**/__pycache__" in lines


def test_every_copied_path_is_in_the_build_context():
    """A COPY of a path .dockerignore filters out fails only at build time (podman, CI)."""
    allowed = {
        ln.strip()[1:].rstrip("/")
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip().startswith("!")
    }
    for dockerfile in IMAGES:
        for _, word, args in instructions(ROOT / dockerfile):
            if word != "COPY" or args.startswith("--from"):
                continue
            *sources, _dest = args.split()
            for source in sources:
                assert source.rstrip("/") in allowed, f"{dockerfile}: COPY {source} is ignored"


def test_chart_image_values_exist():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for _, _, section in IMAGES.values():
        assert {"repository", "tag", "digest", "pullPolicy"} <= set(values[section]["image"])


def test_the_example_projects_image_adds_its_package_to_ours():
    dockerfile = ROOT / "examples" / "acme-jobs" / "Dockerfile"
    proc = hadolint(dockerfile)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = instructions(dockerfile)
    froms = [args for _, word, args in steps if word == "FROM"]
    assert froms == ["${LONGHAUL_IMAGE}"]
    assert any(w == "ARG" and a.startswith("LONGHAUL_IMAGE=longhaul-worker:") for _, w, a in steps)
    assert [a for _, w, a in steps if w == "USER"][-1] == "10001:10001"
    env = " ".join(a for _, w, a in steps if w == "ENV")
    assert "PYTHONPATH=/app/ext" in env and "acme_jobs.kinds" in env
