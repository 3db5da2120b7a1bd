"""The CLI's and the Kubernetes target's wiring (no cluster: a kubeconfig file only)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.chaos.__main__ import main
from tests.chaos.actions.pods import PodFaults
from tests.chaos.settings import ChaosSettings
from tests.chaos.targets import TargetUnavailable, k8s_target

pytestmark = pytest.mark.unit

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: kind
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: chaos
  user: {token: "not-a-real-token"}
contexts:
- name: kind-longhaul
  context: {cluster: kind, user: chaos, namespace: default}
current-context: kind-longhaul
"""


def k8s_settings(**extra: object) -> ChaosSettings:
    return ChaosSettings(
        target="k8s",
        gateway_url="http://127.0.0.1:30080/",
        resonate_url="http://127.0.0.1:8001",
        namespace="chaos-ns",
        release="rel",
        kube_context="kind-longhaul",
        **extra,  # type: ignore[arg-type]
    )


def test_k8s_target_uses_the_kubeconfig_and_scopes_to_the_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    target = k8s_target(k8s_settings(kubeconfig=config), random.Random(0))
    assert target.name == "k8s"
    assert target.gateway_url == "http://127.0.0.1:30080"
    assert target.details == {"namespace": "chaos-ns", "release": "rel"}
    assert isinstance(target.injector, PodFaults)
    assert target.injector.kinds == {"worker_kill", "gateway_kill", "resonate_kill"}


def test_k8s_target_without_configuration_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(TargetUnavailable, match="no Kubernetes configuration"):
        k8s_target(k8s_settings(kubeconfig=tmp_path / "missing"), random.Random(0))


def test_cli_rejects_bad_arguments_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--jobs", "0"]) == 2
    assert main(["--duration", "30", "--fault-window", "60"]) == 2
    assert "cannot be longer" in capsys.readouterr().err
