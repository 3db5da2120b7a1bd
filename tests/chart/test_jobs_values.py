"""`jobs:` values: one image with a team's job package for gateway and worker, and the modules."""

from __future__ import annotations

import pytest

from tests.chart.helpers import by_kind, find

pytestmark = pytest.mark.chart


def workload(docs: list[dict], component: str) -> dict:
    return next(
        d
        for d in by_kind(docs, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    )


def modules(docs: list[dict], deployment: dict) -> str:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    name = container["envFrom"][0]["configMapRef"]["name"]
    return find(docs, "ConfigMap", name)["data"]["LONGHAUL_JOB_MODULES"]


def test_own_jobs_run_one_image_in_gateway_and_worker(render) -> None:
    docs = render("own-jobs")
    image = "registry.example.com/acme/longhaul-acme-jobs:1.4.0"
    for component, command in (("gateway", "services.gateway"), ("worker", "services.worker")):
        deployment = workload(docs, component)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == image
        assert container["command"] == ["python", "-m", command]
        assert modules(docs, deployment) == "services.kinds.builtin,acme_jobs.kinds"


def test_by_default_the_builtin_kinds_and_the_component_images(render) -> None:
    docs = render("default")
    for component in ("gateway", "worker"):
        deployment = workload(docs, component)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"].startswith(f"longhaul-{component}:")
        assert modules(docs, deployment) == "services.kinds.builtin"


def test_module_names_are_checked_by_the_schema(helm) -> None:
    proc = helm.run(*helm.template_args(sets=["jobs.modules={not a module}"]))
    assert proc.returncode != 0 and "/jobs/modules/0" in proc.stderr
