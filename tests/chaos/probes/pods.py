"""Read-only views of a release's pods and workloads (kubernetes client objects)."""

from __future__ import annotations

from typing import Any

INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"


def selector(release: str, component: str) -> str:
    return f"{INSTANCE}={release},{COMPONENT}={component}"


def is_ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None:
        return False
    conditions = (pod.status.conditions or []) if pod.status else []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def live_pods(core: Any, namespace: str, label_selector: str) -> list[Any]:
    """Pods of the selector that are running and not being deleted: kill candidates."""
    pods = core.list_namespaced_pod(namespace, label_selector=label_selector).items
    return [
        p
        for p in pods
        if p.metadata.deletion_timestamp is None and p.status and p.status.phase == "Running"
    ]


def _workload_ready(workload: Any) -> tuple[int, bool]:
    """(desired replicas, whether the controller has seen its spec and has them ready)."""
    desired = workload.spec.replicas if workload.spec.replicas is not None else 1
    status = workload.status
    seen = (status.observed_generation or 0) >= (workload.metadata.generation or 0)
    return desired, seen and (status.ready_replicas or 0) >= desired


def restored(
    core: Any, apps: Any, namespace: str, label_selector: str, victim_uid: str
) -> tuple[bool, str]:
    """Is the victim gone and its Deployment/StatefulSet ready again? (and why not)."""
    pods = core.list_namespaced_pod(namespace, label_selector=label_selector).items
    if any(p.metadata.uid == victim_uid for p in pods):
        return False, "the deleted pod is still there"
    workloads = [
        *apps.list_namespaced_deployment(namespace, label_selector=label_selector).items,
        *apps.list_namespaced_stateful_set(namespace, label_selector=label_selector).items,
    ]
    if not workloads:
        return False, f"no Deployment or StatefulSet matches {label_selector}"
    desired = 0
    for workload in workloads:
        wanted, ready = _workload_ready(workload)
        if not ready:
            return False, f"{workload.metadata.name} is not ready"
        desired += wanted
    # A workload's status can still count the deleted pod for a moment:
    # the pods themselves must show the replacement ready.
    ready_pods = sum(1 for p in pods if is_ready(p))
    if ready_pods < desired:
        return False, f"{ready_pods}/{desired} pods ready"
    return True, "ready"
