"""Kinds defined outside services/ (the example project, tests/kinds.py), loaded through
LONGHAUL_JOB_MODULES by real gateway and worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from services.stack.layout import REPO_ROOT
from services.stack.processes import free_port
from tests.integration.client import Api
from tests.integration.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

EXAMPLE_SRC = REPO_ROOT / "examples" / "acme-jobs" / "src"
MODULES = "services.kinds.builtin,acme_jobs.kinds,tests.kinds"
ENV = {"LONGHAUL_JOB_MODULES": MODULES, "PYTHONPATH": f"{EXAMPLE_SRC}{os.pathsep}{REPO_ROOT}"}


def own_stack(make_stack: StackFactory, **kwargs):
    return make_stack(gateway_env=ENV, worker_env=ENV, **kwargs)


def test_own_kinds_run_retry_and_fail_as_their_policy_says(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    api = Api(own_stack(make_stack).gateway_url)
    kinds = {k["name"] for k in api.http.get("/v1/kinds").json()["kinds"]}
    assert {"echo", "invoice", "flaky", "doomed", "two-steps"} <= kinds

    line = {"sku": "x", "quantity": 2, "unit_price_eur": "10.00"}
    order = {"customer": "acme", "currency": "GBP", "lines": [line], "out_dir": str(tmp_path)}
    invoice = api.wait_done(api.submit_ok("invoice", {**order, "rate_failures": 1}))
    assert invoice["status"] == "succeeded", invoice
    assert invoice["result"]["total"] == "17.14" and invoice["attempts"] == 2
    assert Path(invoice["result"]["document"]).exists()

    bad = api.submit("invoice", {**order, "lines": [{**line, "quantity": 0}]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "input", "lines", "0", "quantity"]

    flaky = api.wait_done(api.submit_ok("flaky", {"fail_times": 2, "trace_dir": str(tmp_path)}))
    assert flaky["status"] == "succeeded" and flaky["attempts"] == 3
    trace = (tmp_path / f"{flaky['id']}.log").read_text().splitlines()
    assert trace == ["prepare", "attempt 1", "attempt 2", "attempt 3"]

    doomed = api.wait_done(api.submit_ok("doomed", {"reason": "closed account"}))
    assert doomed["status"] == "failed" and doomed["attempts"] == 1
    assert doomed["error"] == {"type": "PermanentError", "message": "closed account"}

    # The case that used to spin (a step result JSON cannot hold) ends in failed.
    started = time.monotonic()
    overflow = api.wait_done(api.submit_ok("overflow", {}))
    assert overflow["status"] == "failed" and overflow["attempts"] == 3
    assert overflow["error"]["type"] == "SerializationError"
    assert time.monotonic() - started < 10


def test_a_worker_killed_between_two_steps_resumes_after_the_completed_one(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = own_stack(make_stack, workers=2, ttl_s=3.0)
    api = Api(stack.gateway_url)
    job_id = api.submit_ok("two-steps", {"trace_dir": str(tmp_path), "second_step_s": 4})
    trace = tmp_path / f"{job_id}.log"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "second" not in (
        trace.read_text() if trace.exists() else ""
    ):
        time.sleep(0.1)
    holder_pid = int(trace.read_text().splitlines()[-1].rsplit("pid=", 1)[1])
    victim = next(w for w in stack.workers if w.pid == holder_pid)
    victim.kill()

    done = api.wait_done(job_id, timeout=40)
    assert done["status"] == "succeeded" and done["result"] == {"answer": 42}
    lines = trace.read_text().splitlines()
    assert [line.split(" pid=")[0] for line in lines] == [
        "first",
        "second attempt=1",
        "second attempt=2",  # the killed execution counts as an attempt
    ]
    assert int(lines[-1].rsplit("pid=", 1)[1]) != holder_pid
    assert done["attempts"] == 2


def test_a_crash_loop_ends_in_failed_within_the_policy(make_stack: StackFactory) -> None:
    # Every attempt kills the worker running it; restarted workers stand in for
    # Kubernetes restarting the pod.
    stack = own_stack(make_stack, workers=1, ttl_s=2.0)
    api = Api(stack.gateway_url)
    job_id = api.submit_ok("lossy", {})
    deadline = time.monotonic() + 60
    job = api.job(job_id)
    while job["status"] == "pending" and time.monotonic() < deadline:
        for worker in stack.workers:
            if not worker.alive():
                worker.restart()
        job = api.job(job_id, wait=1)
    assert job["status"] == "failed", job
    assert job["attempts"] == 2 and job["error"]["type"] == "ExecutionLost"


UNCLAIMED = """
from pydantic import BaseModel, Field

from longhaul import JobKind


class Input(BaseModel):
    run: str = Field(default={run!r})


async def unclaimed(ctx, run):
    return {{"run": run}}


KINDS = [JobKind(name="unclaimed", summary="no worker runs it", input_model=Input,
                 function=unclaimed)]
"""


def test_a_kind_no_worker_registered_is_refused(make_stack: StackFactory, tmp_path: Path) -> None:
    # The gateway knows the example's kinds and one defined for this run only
    # (a Resonate server shared by many tests has seen workers with every other
    # definition lately); the workers only the built-ins.
    (tmp_path / "lh_unclaimed.py").write_text(UNCLAIMED.format(run=uuid.uuid4().hex))
    gateway_env = {
        "LONGHAUL_JOB_MODULES": f"{MODULES},lh_unclaimed",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ENV['PYTHONPATH']}",
    }
    stack = make_stack(gateway_env=gateway_env, worker_env={})
    api = Api(stack.gateway_url)
    assert api.wait_done(api.submit_ok("echo", {"n": 1}))["status"] == "succeeded"
    refused = api.submit("unclaimed", {})
    assert refused.status_code == 503
    assert refused.json()["type"] == "urn:longhaul:problem:kind-unavailable"
    kinds = {k["name"]: k["available"] for k in api.http.get("/v1/kinds").json()["kinds"]}
    assert kinds["echo"] is True and kinds["unclaimed"] is False
    if stack.devserver is not None:
        # Nothing but this stack's built-in workers ever advertised to this server.
        assert kinds["flaky"] is False


def boot(service: str, modules: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **ENV,
        "LONGHAUL_JOB_MODULES": modules,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ENV['PYTHONPATH']}",
        "LONGHAUL_LOG_FORMAT": "json",
        "RESONATE_URL": "http://127.0.0.1:9",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LONGHAUL_WORKER_METRICS_PORT": str(free_port()),
        "LONGHAUL_AUTH_MODE": "none",  # the gateway starts only when told how to authenticate
    }
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("service", ["gateway", "worker"])
def test_bad_job_modules_fail_the_boot_naming_module_and_kind(service: str, tmp_path: Path) -> None:
    (tmp_path / "lh_broken.py").write_text("import not_installed_anywhere\n")
    (tmp_path / "lh_dupe.py").write_text(
        "from acme_jobs.kinds import KINDS as _K\nKINDS = [_K[1]]\n"
    )
    (tmp_path / "lh_nofn.py").write_text(
        "from acme_jobs.kinds import FlakyInput\nfrom longhaul import JobKind\n"
        "KINDS = [JobKind(name='ghost', summary='s', input_model=FlakyInput,"
        " function='acme_jobs.kinds:no_such_function')]\n"
    )
    cases = {
        "lh_broken": ["'lh_broken'", "not_installed_anywhere"],
        "acme_jobs.kinds,lh_dupe": ["'flaky'", "'acme_jobs.kinds'", "'lh_dupe'"],
    }
    if service == "worker":  # the gateway never imports a kind's function
        cases["lh_nofn"] = ["'ghost'", "'lh_nofn'", "no_such_function"]
    for modules, expected in cases.items():
        proc = boot(service, modules, tmp_path)
        assert proc.returncode == 2, (modules, proc.stdout[-2000:], proc.stderr[-2000:])
        output = proc.stdout + proc.stderr
        for text in expected:
            assert text in output, (modules, output[-2000:])
