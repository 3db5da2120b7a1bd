"""A stand-in for the Kubernetes API: CoreV1Api/AppsV1Api objects over an in-memory cluster.

It holds real ``kubernetes.client`` model objects, checks every call against
the real client's method signature, and plays the controllers: a deleted
pod is Terminating for one poll, then replaced (a new name for a Deployment,
the same name for a StatefulSet) by a pod that becomes ready some polls
later, while each workload's status lags one poll behind, as a real one can.
"""

from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    pairs = (term.split("=", 1) for term in selector.split(","))
    return all(labels.get(k) == v for k, v in pairs)


def _check_signature(real: Any, *args: Any, **kwargs: Any) -> None:
    """Fail like the real client would on a call it does not accept."""
    inspect.signature(real).bind(None, *args, **kwargs)


@dataclass
class Workload:
    kind: str  # "Deployment" or "StatefulSet"
    name: str
    namespace: str
    labels: dict[str, str]
    replicas: int
    #: Polls from deletion until the replacement is Running and Ready; None: never.
    ready_after: int | None = 3
    seen_ready: int | None = None
    shown_ready: int | None = None


@dataclass
class FakeCluster:
    workloads: list[Workload] = field(default_factory=list)
    pods: list[client.V1Pod] = field(default_factory=list)
    deletions: list[tuple[str, str, int | None]] = field(default_factory=list)
    namespaces_seen: set[str] = field(default_factory=set)
    tick: int = 0
    _uids: itertools.count = field(default_factory=itertools.count)
    _pending: list[tuple[int | None, client.V1Pod]] = field(default_factory=list)

    def add(self, workload: Workload) -> Workload:
        self.workloads.append(workload)
        for i in range(workload.replicas):
            self.pods.append(self._pod(workload, i, ready=True))
        return workload

    def _pod(self, w: Workload, i: int, ready: bool, name: str | None = None) -> client.V1Pod:
        uid = f"uid-{next(self._uids)}"
        default = f"{w.name}-{i}" if w.kind == "StatefulSet" else f"{w.name}-{uid}"
        return client.V1Pod(
            metadata=client.V1ObjectMeta(
                name=name or default, namespace=w.namespace, uid=uid, labels=dict(w.labels)
            ),
            status=client.V1PodStatus(
                phase="Running" if ready else "Pending",
                conditions=[
                    client.V1PodCondition(type="Ready", status="True" if ready else "False")
                ],
            ),
        )

    def owner(self, pod: client.V1Pod) -> Workload:
        return next(
            w
            for w in self.workloads
            if w.namespace == pod.metadata.namespace
            and w.labels.items() <= pod.metadata.labels.items()
        )

    def ready_pods(self, w: Workload) -> int:
        return sum(
            1 for p in self.pods if self.owner(p) is w and p.status.conditions[0].status == "True"
        )

    def advance(self) -> None:
        """One poll: statuses show the last poll's state; deletions and replacements move on."""
        for w in self.workloads:
            w.shown_ready, w.seen_ready = w.seen_ready, self.ready_pods(w)
        self.tick += 1
        for pod in [p for p in self.pods if p.metadata.deletion_timestamp is not None]:
            self.pods.remove(pod)
            owner = self.owner(pod)
            same_name = pod.metadata.name if owner.kind == "StatefulSet" else None
            replacement = self._pod(owner, 0, ready=False, name=same_name)
            self.pods.append(replacement)
            due = None if owner.ready_after is None else self.tick + owner.ready_after
            self._pending.append((due, replacement))
        for due, pod in self._pending:
            if due is not None and self.tick >= due:
                pod.status.phase = "Running"
                pod.status.conditions[0].status = "True"

    def delete(self, name: str, namespace: str, grace: int | None) -> None:
        """Mark the pod Terminating; it is gone, and replaced, at the next poll."""
        victim = next(
            (p for p in self.pods if p.metadata.name == name and p.metadata.namespace == namespace),
            None,
        )
        if victim is None:
            raise ApiException(status=404, reason="Not Found")
        self.deletions.append((namespace, name, grace))
        victim.metadata.deletion_timestamp = datetime.now(UTC)


class FakeCoreV1Api:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> client.V1PodList:
        _check_signature(client.CoreV1Api.list_namespaced_pod, namespace, **kwargs)
        self.cluster.namespaces_seen.add(namespace)
        self.cluster.advance()
        items = [
            p
            for p in self.cluster.pods
            if p.metadata.namespace == namespace
            and _matches(p.metadata.labels, kwargs.get("label_selector"))
        ]
        return client.V1PodList(items=items)

    def delete_namespaced_pod(self, name: str, namespace: str, **kwargs: Any) -> client.V1Pod:
        _check_signature(client.CoreV1Api.delete_namespaced_pod, name, namespace, **kwargs)
        self.cluster.namespaces_seen.add(namespace)
        self.cluster.delete(name, namespace, kwargs.get("grace_period_seconds"))
        return client.V1Pod()


class FakeAppsV1Api:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def _workloads(self, kind: str, namespace: str, selector: str | None) -> list[Workload]:
        self.cluster.namespaces_seen.add(namespace)
        return [
            w
            for w in self.cluster.workloads
            if w.kind == kind and w.namespace == namespace and _matches(w.labels, selector)
        ]

    @staticmethod
    def _status(w: Workload) -> tuple[client.V1ObjectMeta, int]:
        meta = client.V1ObjectMeta(
            name=w.name, namespace=w.namespace, labels=w.labels, generation=1
        )
        return meta, w.shown_ready if w.shown_ready is not None else w.replicas

    def list_namespaced_deployment(self, namespace: str, **kwargs: Any) -> client.V1DeploymentList:
        _check_signature(client.AppsV1Api.list_namespaced_deployment, namespace, **kwargs)
        items = []
        for w in self._workloads("Deployment", namespace, kwargs.get("label_selector")):
            meta, ready = self._status(w)
            items.append(
                client.V1Deployment(
                    metadata=meta,
                    spec=client.V1DeploymentSpec(
                        replicas=w.replicas,
                        selector=client.V1LabelSelector(match_labels=w.labels),
                        template=client.V1PodTemplateSpec(),
                    ),
                    status=client.V1DeploymentStatus(ready_replicas=ready, observed_generation=1),
                )
            )
        return client.V1DeploymentList(items=items)

    def list_namespaced_stateful_set(
        self, namespace: str, **kwargs: Any
    ) -> client.V1StatefulSetList:
        _check_signature(client.AppsV1Api.list_namespaced_stateful_set, namespace, **kwargs)
        items = []
        for w in self._workloads("StatefulSet", namespace, kwargs.get("label_selector")):
            meta, ready = self._status(w)
            items.append(
                client.V1StatefulSet(
                    metadata=meta,
                    spec=client.V1StatefulSetSpec(
                        replicas=w.replicas,
                        selector=client.V1LabelSelector(match_labels=w.labels),
                        service_name=w.name,
                        template=client.V1PodTemplateSpec(),
                    ),
                    status=client.V1StatefulSetStatus(
                        replicas=w.replicas, ready_replicas=ready, observed_generation=1
                    ),
                )
            )
        return client.V1StatefulSetList(items=items)


def workload(release: str, namespace: str, component: str, **kw: Any) -> Workload:
    """A release's Deployment or StatefulSet (resonate), labelled as the chart does."""
    kind = "StatefulSet" if component == "resonate" else "Deployment"
    labels = {INSTANCE: release, COMPONENT: component, "app.kubernetes.io/name": "longhaul"}
    return Workload(kind, f"{release}-{component}", namespace, labels, **kw)
