"""Helpers of the offline chart checks: constants, the helm runner, queries
over rendered objects."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "longhaul"
CI_DIR = CHART / "ci"
VENV_BIN = ROOT / ".venv" / "bin"
KUBE_VERSION = "1.31.0"
RELEASE = "longhaul"
NAMESPACE = "longhaul"

SCENARIOS = sorted(p.name.removesuffix("-values.yaml") for p in CI_DIR.glob("*-values.yaml"))


def load_tools_module():
    spec = importlib.util.spec_from_file_location("longhaul_tools", ROOT / "scripts" / "tools.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tool_env() -> dict[str, str]:
    """Environment whose PATH finds the venv's linters (shellcheck for actionlint)."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def venv_tool(name: str) -> str:
    path = VENV_BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found in {VENV_BIN} or on PATH: run `bash scripts/bootstrap.sh`")
    return found


def run_tool(
    name: str, *args: object, timeout: float, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """A linter from the venv, with the venv's tools on PATH, its output captured."""
    return subprocess.run(
        [venv_tool(name), *map(str, args)],
        capture_output=True,
        text=True,
        env=tool_env(),
        timeout=timeout,
        cwd=cwd,
    )


@dataclass
class Helm:
    binary: Path

    def run(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "HELM_CACHE_HOME": str(ROOT / ".tools" / "helm" / "cache"),
                "HELM_CONFIG_HOME": str(ROOT / ".tools" / "helm" / "config"),
                "HELM_DATA_HOME": str(ROOT / ".tools" / "helm" / "data"),
            },
        )
        if check and proc.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def template_args(
        self, values: Iterable[str | Path] = (), sets: Iterable[str] = (), chart: Path = CHART
    ) -> list[str]:
        args = [
            "template",
            RELEASE,
            str(chart),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            KUBE_VERSION,
        ]
        for v in values:
            args += ["-f", str(v)]
        for s in sets:
            args += ["--set", s]
        return args

    def template(
        self, values: Iterable[str | Path] = (), sets: Iterable[str] = (), chart: Path = CHART
    ) -> list[dict]:
        proc = self.run(*self.template_args(values, sets, chart), check=True)
        return [d for d in yaml.safe_load_all(proc.stdout) if d]


# --- helpers over rendered objects -------------------------------------------


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def find(docs: list[dict], kind: str, name: str) -> dict:
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    raise AssertionError(f"no {kind} named {name} in {names}")


def pod_spec(doc: dict) -> dict | None:
    if doc["kind"] == "Pod":
        return doc["spec"]
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if pod_spec(d) is not None]


def component(doc: dict) -> str:
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


def is_test_hook(doc: dict) -> bool:
    return (doc["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"
