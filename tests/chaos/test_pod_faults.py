"""The Kubernetes fault injector, run against a STAND-IN for the API server.

``tests/chaos/fake_k8s.py`` fakes CoreV1Api/AppsV1Api with real client model
objects and the real methods' signatures; it checks the injector's logic
(label selection, namespace scoping, grace period 0, waiting for the owning
Deployment/StatefulSet to be ready again), not Kubernetes itself. The real
verification is the kind job, which runs ``python -m tests.chaos --target k8s``
against an installed release.
"""

from __future__ import annotations

import random

import pytest

from tests.chaos.actions.pods import PodFaults
from tests.chaos.fake_k8s import (
    COMPONENT,
    INSTANCE,
    FakeAppsV1Api,
    FakeCluster,
    FakeCoreV1Api,
    workload,
)

pytestmark = pytest.mark.unit

NS, RELEASE = "longhaul", "longhaul"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def cluster(**worker: object) -> FakeCluster:
    c = FakeCluster()
    c.add(workload(RELEASE, NS, "gateway", replicas=2))
    c.add(workload(RELEASE, NS, "worker", replicas=2, **worker))
    c.add(workload(RELEASE, NS, "resonate", replicas=1))
    # Look-alikes that must never be touched: another release in the same
    # namespace, the same release name in another namespace.
    c.add(workload("other", NS, "worker", replicas=1))
    c.add(workload(RELEASE, "elsewhere", "worker", replicas=1))
    return c


def injector(c: FakeCluster, clock: Clock, **kw: object) -> PodFaults:
    return PodFaults(
        FakeCoreV1Api(c),
        FakeAppsV1Api(c),
        namespace=NS,
        release=RELEASE,
        rng=random.Random(7),
        poll_s=1.0,
        clock=clock,
        sleep=clock.sleep,
        **kw,  # type: ignore[arg-type]
    )


def test_deletes_one_pod_of_the_release_component_in_its_namespace_with_grace_zero() -> None:
    c, clock = cluster(), Clock()
    before = {p.metadata.name for p in c.pods}
    record = injector(c, clock).inject("worker_kill")

    assert record.error is None
    assert len(c.deletions) == 1
    namespace, name, grace = c.deletions[0]
    assert (namespace, grace) == (NS, 0)
    assert name == record.target and name in before
    assert name.startswith(f"{RELEASE}-worker-")
    # Every call, reads included, stayed in the release's namespace.
    assert c.namespaces_seen == {NS}
    untouched = [p for p in c.pods if p.metadata.labels[INSTANCE] == "other"]
    assert (
        len(untouched) == 1 and len([p for p in c.pods if p.metadata.namespace == "elsewhere"]) == 1
    )


def test_waits_for_a_ready_replacement_not_for_a_stale_workload_status() -> None:
    c, clock = cluster(ready_after=4), Clock()
    record = injector(c, clock).inject("worker_kill")

    assert record.error is None and record.recovered_at is not None
    # The Deployment's status still said 2/2 right after the delete; the
    # injector kept polling until the replacement pod itself was ready.
    assert record.recovered_at - record.at >= 3.0
    workers = [
        p
        for p in c.pods
        if p.metadata.labels[COMPONENT] == "worker"
        and p.metadata.namespace == NS
        and p.metadata.labels[INSTANCE] == RELEASE
    ]
    assert len(workers) == 2
    assert all(p.status.conditions[0].status == "True" for p in workers)


def test_statefulset_pod_comes_back_under_the_same_name_with_a_new_uid() -> None:
    c, clock = cluster(), Clock()
    old = next(p for p in c.pods if p.metadata.labels[COMPONENT] == "resonate")
    record = injector(c, clock).inject("resonate_kill")

    assert record.error is None and record.target == f"{RELEASE}-resonate-0"
    new = next(p for p in c.pods if p.metadata.labels[COMPONENT] == "resonate")
    assert new.metadata.name == old.metadata.name and new.metadata.uid != old.metadata.uid
    assert new.status.conditions[0].status == "True"


def test_a_workload_that_never_heals_is_reported_not_waited_for_forever() -> None:
    c, clock = cluster(ready_after=None), Clock()
    record = injector(c, clock, ready_timeout_s=20).inject("worker_kill")

    assert record.recovered_at is None
    assert record.error is not None and "not restored within 20s" in record.error
    assert "1/2 pods ready" in record.error or "not ready" in record.error


def test_nothing_to_kill_and_unsupported_kinds_are_errors_not_exceptions() -> None:
    c, clock = FakeCluster(), Clock()
    c.add(workload(RELEASE, NS, "worker", replicas=1))
    faults = injector(c, clock)

    gateway = faults.inject("gateway_kill")
    assert gateway.error is not None and "no running pod matches" in gateway.error
    assert f"{INSTANCE}={RELEASE},{COMPONENT}=gateway" in gateway.error
    gunicorn = faults.inject("gunicorn_worker_kill")
    assert gunicorn.error is not None and "not a pod fault" in gunicorn.error
    assert c.deletions == []
