# ruff: noqa: T201, S108
# (a command-line tool that reports on stdout; the /tmp paths are container mount points)
"""Run the built images as containers, the way the chart runs them, and check them.

    python -m scripts.images.smoke [--gateway-image IMG] [--worker-image IMG] [--report PATH]

Containers (one podman bridge network, unique name prefix per run):
  resonate  the dev Resonate server (``python -m services.devserver``) from the worker image
  gateway   published on 127.0.0.1:<random>
  worker-1, worker-2  (LONGHAUL_WORKER_TTL_S=3), metrics ports published on loopback

Each one with the chart's securityContext: ``--user 10001:10001``, a read-only root
filesystem whose only writable paths are the chart's emptyDirs (tmpfs: /tmp for
all, plus /run/longhaul-metrics for the gateway), ``--cap-drop ALL``,
``--security-opt no-new-privileges``.

Checks: the securityContext really applies inside; an ``echo`` and a ``sleep`` job
through the gateway; a ``pipeline`` job whose worker is SIGKILLed mid-step finishes
on the other worker; /metrics of gateway and worker; every log line of every
container is a JSON object. Then it measures image sizes, layers, cold start to
ready, and lists what the final images still carry that they need not, and writes
a Markdown report (default .tools/images/REPORT.md; the committed
scripts/images/REPORT.md is refreshed with ``--report scripts/images/REPORT.md``).

Exit status 0 when every check passed; 1 with ``SMOKE FAILED: <check>: <why>``
otherwise. Every container, network and volume of the run is removed in all
cases (try/finally, atexit, SIGTERM/SIGINT).
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tarfile
import time
import traceback
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / ".tools/images/containers.conf"
DEFAULT_REPORT = ROOT / ".tools/images/REPORT.md"

# podman works here only with runc and explicit ulimits (see README.md).
RUNTIME = ["--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1000:1000"]
# The chart's pod/container securityContext, as podman flags. --read-only-tmpfs=false:
# podman would otherwise add writable tmpfs at /run, /tmp and /var/tmp by itself;
# only the chart's volumes may be writable.
SECURITY = [
    "--user", "10001:10001",
    "--read-only", "--read-only-tmpfs=false",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
]  # fmt: skip
# The chart's emptyDirs, with its size limits. Mode 1777 stands in for fsGroup.
GATEWAY_TMPFS = ["/tmp:rw,size=64m,mode=1777", "/run/longhaul-metrics:rw,size=64m,mode=1777"]
WORKER_TMPFS = ["/tmp:rw,size=256m,mode=1777"]
GATEWAY_ENV = {
    "PROMETHEUS_MULTIPROC_DIR": "/run/longhaul-metrics/multiproc",  # as the chart
    # The smoke test's requests carry no credentials, as the chart's kind scenario.
    "LONGHAUL_AUTH_MODE": "none",
}
LEASE_TTL_S = 3
READY_TIMEOUT_S = 60


class SmokeFailure(Exception):
    def __init__(self, check: str, why: str) -> None:
        super().__init__(f"{check}: {why}")
        self.check, self.why = check, why


def image_tag() -> str:
    """The tag build.sh gives the images: ``IMAGE_TAG``, else the chart's appVersion."""
    if os.environ.get("IMAGE_TAG"):
        return os.environ["IMAGE_TAG"]
    text = (ROOT / "charts/longhaul/Chart.yaml").read_text()
    match = re.search(r'^appVersion:\s*"?([^"\s]+)"?', text, re.M)
    return match.group(1) if match else "latest"


# ── podman ──────────────────────────────────────────────────────────────────


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    if CONTAINERS_CONF.exists():
        env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    cmd = ["podman", *args]
    try:
        # Own session: a Ctrl-C on the terminal reaches this script, not podman.
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=podman_env(),
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise SmokeFailure("podman", "podman is not installed (run `make images` first)") from exc
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise SmokeFailure(f"podman {args[0]}", f"no answer after {timeout:.0f}s") from exc
    except BaseException:
        # Interrupted (SIGTERM/SIGINT): let podman finish this step rather than kill
        # it halfway (a half-started container can resist removal), then clean up.
        try:
            proc.communicate(timeout=60)
        except BaseException:
            proc.kill()
        raise
    result = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise SmokeFailure(f"podman {args[0]}", (stderr or stdout).strip()[-2000:])
    return result


@dataclass
class Container:
    role: str
    name: str
    image: str
    port: int  # container port published on loopback
    started_at: float = 0.0
    host_port: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    def state(self) -> dict[str, Any]:
        out = podman("inspect", "--format", "{{json .State}}", self.name, check=False)
        return json.loads(out.stdout) if out.returncode == 0 else {}

    def logs(self) -> tuple[str, str]:
        out = podman("logs", self.name, check=False)
        return out.stdout, out.stderr

    def tail(self, n: int = 15) -> str:
        stdout, stderr = self.logs()
        lines = (stdout + stderr).strip().splitlines()[-n:]
        return "\n".join("    " + line for line in lines) or "    (no output)"


class Run:
    """Every podman object this run creates carries the prefix and a label."""

    def __init__(self) -> None:
        self.prefix = f"lhsmoke-{uuid.uuid4().hex[:8]}"
        self.label = f"io.longhaul.smoke={self.prefix}"
        self.network = f"{self.prefix}-net"
        self.containers: dict[str, Container] = {}
        self._cleaned = False
        atexit.register(self.cleanup)

    def create_network(self) -> None:
        podman("network", "create", "--label", self.label, self.network)

    def start(
        self,
        role: str,
        image: str,
        command: list[str],
        port: int,
        env: dict[str, str],
        tmpfs: list[str],
    ) -> Container:
        c = Container(role, f"{self.prefix}-{role}", image, port)
        args = ["create", "--name", c.name, "--label", self.label, "--network", self.network]
        args += ["--network-alias", role, "--log-driver", "k8s-file", *RUNTIME, *SECURITY]
        for mount in tmpfs:
            args += ["--tmpfs", mount]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        args += ["--publish", f"127.0.0.1::{port}", image, *command]
        podman(*args)
        self.containers[role] = c
        # podman picks the random host port at create time.
        bindings = podman("inspect", "--format", "{{json .HostConfig.PortBindings}}", c.name)
        c.host_port = int(json.loads(bindings.stdout)[f"{port}/tcp"][0]["HostPort"])
        c.started_at = time.monotonic()
        podman("start", c.name)
        return c

    def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        try:
            self._remove_all()
        except SmokeFailure as exc:  # podman missing: nothing was created
            print(f"smoke: cleanup: {exc}", file=sys.stderr)

    def _remove_all(self) -> None:
        flt = ["--filter", f"label={self.label}"]
        for attempt in range(3):  # one container at a time; retry what resisted
            left = podman("ps", "-a", "-q", *flt, check=False).stdout.split()
            if not left:
                break
            for cid in left:
                gone = podman("rm", "-f", "-v", "-t", "0", "--ignore", cid, check=False)
                if gone.returncode != 0 and attempt == 2:
                    print(
                        f"smoke: cleanup: cannot remove {cid}: {gone.stderr.strip()}",
                        file=sys.stderr,
                    )
            time.sleep(0.5 * attempt)
        for vol in podman("volume", "ls", "-q", *flt, check=False).stdout.split():
            podman("volume", "rm", "-f", vol, check=False)
        if podman("network", "exists", self.network, check=False).returncode == 0:
            podman("network", "rm", "-f", self.network, check=False)


# ── HTTP helpers ────────────────────────────────────────────────────────────


def wait_http(c: Container, path: str, timeout: float = READY_TIMEOUT_S) -> float:
    """Seconds from `podman start` to the first 200 on path; fails if the container exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    # `podman inspect` takes longer than a poll: checking for an exit on every
    # poll would make the measured start time up to one inspect late.
    next_state_check = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            response = httpx.get(c.url + path, timeout=1)
            if response.status_code == 200:
                elapsed = time.monotonic() - c.started_at
                c.timings[path] = elapsed
                return elapsed
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        if time.monotonic() < next_state_check:
            time.sleep(0.05)
            continue
        next_state_check = time.monotonic() + 1.0
        state = c.state()
        if state and not state.get("Running", False):
            raise SmokeFailure(
                f"{c.role} start",
                f"container {c.name} ({c.image}) exited with code {state.get('ExitCode')} "
                f"before {path} answered 200; last log lines:\n{c.tail()}",
            )
        time.sleep(0.05)
    raise SmokeFailure(
        f"{c.role} start", f"{path} not 200 after {timeout:.0f}s ({last}); logs:\n{c.tail()}"
    )


def samples(url: str) -> list[tuple[str, dict[str, str], float]]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def metric(url: str, name: str, **labels: str) -> float:
    return sum(
        v
        for n, lab, v in samples(url)
        if n == name and all(lab.get(k) == x for k, x in labels.items())
    )


class Api:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def submit(self, kind: str, input: dict[str, Any]) -> str:
        response = self.http.post("/v1/jobs", json={"kind": kind, "input": input})
        if response.status_code != 202:
            raise SmokeFailure(f"submit {kind}", f"HTTP {response.status_code}: {response.text}")
        return response.json()["id"]

    def wait_done(self, job_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            response = self.http.get(f"/v1/jobs/{job_id}", params={"wait": min(5, max(0.1, left))})
            if response.status_code != 200:
                raise SmokeFailure(
                    "job status", f"{job_id}: HTTP {response.status_code}: {response.text}"
                )
            job = response.json()
            if job["status"] != "pending" or time.monotonic() > deadline:
                return job


# ── the checks ──────────────────────────────────────────────────────────────


@dataclass
class Results:
    checks: list[tuple[str, float, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def check(self, name: str) -> Iterator[list[str]]:
        notes: list[str] = []
        started = time.monotonic()
        print(f"smoke: {name} ...", flush=True)
        yield notes
        took = time.monotonic() - started
        self.checks.append((name, took, "; ".join(notes)))
        print(
            f"smoke: {name}: ok ({took:.1f}s){' - ' + '; '.join(notes) if notes else ''}",
            flush=True,
        )


SECURITY_PROBE = r"""
import errno, os
lines = open("/proc/self/status").read().splitlines()
status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
out = {"uid": os.getuid(), "gid": os.getgid(), "CapEff": status["CapEff"].strip(),
       "NoNewPrivs": status["NoNewPrivs"].strip(), "writable": []}
for d in ("/", "/app", "/app/services", "/app/.venv", "/etc", "/usr/local", "/var/tmp",
          "/run", "/home", "/tmp", "/run/longhaul-metrics"):
    try:
        path = os.path.join(d, ".smoke-probe")
        with open(path, "w"):
            pass
        os.unlink(path)
        out["writable"].append(d)
    except OSError as e:
        if e.errno not in (errno.EROFS, errno.EACCES, errno.ENOENT):
            raise
print(__import__("json").dumps(out))
"""


def check_security(c: Container, allowed_writable: set[str]) -> str:
    info = json.loads(podman("inspect", c.name).stdout)[0]
    host = info["HostConfig"]
    problems = []
    if info["Config"].get("User") != "10001:10001":
        problems.append(f"user {info['Config'].get('User')!r}")
    if not host.get("ReadonlyRootfs"):
        problems.append("root filesystem not read-only")
    if "no-new-privileges" not in " ".join(host.get("SecurityOpt") or []):
        problems.append(f"SecurityOpt {host.get('SecurityOpt')}")
    probe = podman("exec", c.name, "python", "-c", SECURITY_PROBE, check=False)
    if probe.returncode != 0:
        raise SmokeFailure(
            f"{c.role} securityContext", f"probe failed: {probe.stderr.strip()[-800:]}"
        )
    seen = json.loads(probe.stdout)
    if (seen["uid"], seen["gid"]) != (10001, 10001):
        problems.append(f"runs as {seen['uid']}:{seen['gid']}")
    if int(seen["CapEff"], 16) != 0:
        problems.append(f"effective capabilities {seen['CapEff']}")
    if seen["NoNewPrivs"] != "1":
        problems.append("NoNewPrivs is not set")
    if set(seen["writable"]) != allowed_writable:
        problems.append(f"writable {sorted(seen['writable'])}, expected {sorted(allowed_writable)}")
    if problems:
        raise SmokeFailure(f"{c.role} securityContext", "; ".join(problems))
    return f"{c.role}: uid 10001, CapEff 0, NoNewPrivs 1, writable only {sorted(allowed_writable)}"


def check_logs(c: Container) -> int:
    stdout, stderr = c.logs()
    lines = [line for line in (stdout + "\n" + stderr).splitlines() if line.strip()]
    if not lines:
        raise SmokeFailure("JSON logs", f"{c.name} logged nothing")
    bad = []
    for line in lines:
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    if bad:
        shown = "\n".join("    " + b[:300] for b in bad[:5])
        raise SmokeFailure(
            "JSON logs", f"{c.name}: {len(bad)}/{len(lines)} lines are not JSON objects:\n{shown}"
        )
    return len(lines)


def held_pipeline(workers: list[Container]) -> Container | None:
    for w in workers:
        try:
            if metric(w.url, "longhaul_worker_executions_in_progress", kind="pipeline") > 0:
                return w
        except httpx.HTTPError:
            continue
    return None


def check_example(
    run: Run, example_image: str, resonate_url: str, workers: list[Container], res: Results
) -> None:
    """A team's image (examples/acme-jobs: FROM ours, plus its package) runs its own kinds."""
    with res.check("the example project's image runs its own kinds") as notes:
        # The base workers lack the example's kinds: they leave the group first.
        for w in workers:
            if w.state().get("Running"):
                podman("stop", "-t", "5", w.name)
        gateway = run.start(
            "example-gateway", example_image, ["python", "-m", "services.gateway"], 8000,
            {"RESONATE_URL": resonate_url, **GATEWAY_ENV}, GATEWAY_TMPFS,
        )  # fmt: skip
        wait_http(gateway, "/readyz")
        env = {
            "RESONATE_URL": resonate_url,
            "LONGHAUL_WORKER_TTL_S": str(LEASE_TTL_S),
            "LONGHAUL_WORKER_PID": f"{run.prefix}-example-worker",
        }
        worker = run.start("example-worker", example_image, [], 9100, env, WORKER_TMPFS)
        wait_http(worker, "/readyz")
        notes.append(check_security(worker, {"/tmp"}))
        api = Api(gateway.url)
        kinds = {k["name"] for k in api.http.get("/v1/kinds").json()["kinds"]}
        if not {"echo", "invoice", "flaky", "doomed"} <= kinds:
            raise SmokeFailure("example kinds", f"/v1/kinds lists {sorted(kinds)}")
        line = {"sku": "bolt", "quantity": 100, "unit_price_eur": "0.15"}
        order = {"customer": "acme", "currency": "USD", "lines": [line], "rate_failures": 1}
        deadline = time.monotonic() + 30
        while True:  # the worker's adverts land just after it is ready
            response = api.http.post("/v1/jobs", json={"kind": "invoice", "input": order})
            if response.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if response.status_code != 202:
            raise SmokeFailure("example job", f"HTTP {response.status_code}: {response.text}")
        done = api.wait_done(response.json()["id"], 60)
        if (done["status"], done.get("attempts"), (done.get("result") or {}).get("total")) != (
            "succeeded",
            2,
            "16.25",
        ):
            raise SmokeFailure("example job", json.dumps(done))
        doomed = api.wait_done(api.submit("doomed", {"reason": "smoke"}), 30)
        if doomed["status"] != "failed" or doomed.get("error", {}).get("type") != "PermanentError":
            raise SmokeFailure("example permanent failure", json.dumps(doomed))
        notes.append("invoice succeeded at its 2nd attempt; doomed failed permanently")


def run_checks(
    run: Run,
    gateway_image: str,
    worker_image: str,
    res: Results,
    start_samples: int = 0,
    example_image: str = "",
) -> None:
    run.create_network()
    with res.check("start dev Resonate server (worker image)") as notes:
        resonate = run.start(
            "resonate", worker_image, ["python", "-m", "services.devserver"], 8001,
            {"LONGHAUL_DEVSERVER_HOST": "0.0.0.0", "LONGHAUL_DEVSERVER_PORT": "8001"},
            WORKER_TMPFS,
        )  # fmt: skip
        notes.append(f"/ready after {wait_http(resonate, '/ready'):.2f}s")
    resonate_url = "http://resonate:8001"
    with res.check("start gateway") as notes:
        gateway = run.start(
            "gateway", gateway_image, [], 8000, {"RESONATE_URL": resonate_url, **GATEWAY_ENV},
            GATEWAY_TMPFS,
        )  # fmt: skip
        notes.append(f"/healthz after {wait_http(gateway, '/healthz'):.2f}s")
        notes.append(f"/readyz after {wait_http(gateway, '/readyz'):.2f}s")
    workers = []
    with res.check("start 2 workers") as notes:
        for i in (1, 2):
            env = {
                "RESONATE_URL": resonate_url,
                "LONGHAUL_WORKER_TTL_S": str(LEASE_TTL_S),
                "LONGHAUL_WORKER_PID": f"{run.prefix}-worker-{i}",
            }
            # One after the other: each cold start is measured without the other competing.
            w = run.start(f"worker-{i}", worker_image, [], 9100, env, WORKER_TMPFS)
            workers.append(w)
            health, ready = wait_http(w, "/healthz"), wait_http(w, "/readyz")
            notes.append(f"{w.role} /healthz {health:.2f}s, /readyz {ready:.2f}s")

    with res.check("securityContext inside the containers") as notes:
        notes.append(check_security(gateway, {"/tmp", "/run/longhaul-metrics"}))
        for c in (workers[0], resonate):
            notes.append(check_security(c, {"/tmp"}))

    api = Api(gateway.url)
    with res.check("echo and sleep jobs through the gateway") as notes:
        echo = api.submit("echo", {"msg": "hello from the image smoke test"})
        nap = api.submit("sleep", {"seconds": 1})
        done = api.wait_done(echo, 30)
        if done["status"] != "succeeded" or done.get("result") != {
            "msg": "hello from the image smoke test"
        }:
            raise SmokeFailure("echo job", json.dumps(done))
        done = api.wait_done(nap, 30)
        if done["status"] != "succeeded" or done.get("result") != {"slept": 1.0}:
            raise SmokeFailure("sleep job", json.dumps(done))
        notes.append(f"echo {echo} and sleep {nap} succeeded")

    with res.check(f"SIGKILL the worker holding a pipeline job (lease {LEASE_TTL_S}s)") as notes:
        job = api.submit("pipeline", {"values": [1, 2, 3, 4], "step_delay_s": 2.0})
        deadline = time.monotonic() + 20
        victim = held_pipeline(workers)
        while victim is None and time.monotonic() < deadline:
            time.sleep(0.1)
            victim = held_pipeline(workers)
        if victim is None:
            raise SmokeFailure(
                "worker kill", "no worker reported the pipeline job in progress within 20s"
            )
        survivor = next(w for w in workers if w is not victim)
        podman("kill", "--signal", "KILL", victim.name)
        killed_at = time.monotonic()
        state = victim.state()
        if state.get("Running"):
            raise SmokeFailure("worker kill", f"{victim.name} still running after SIGKILL")
        done = api.wait_done(job, 60)
        recovered = time.monotonic() - killed_at
        if done["status"] != "succeeded" or done["result"]["stats"]["sum"] != 10:
            raise SmokeFailure("worker kill", f"pipeline job after the kill: {json.dumps(done)}")
        completed = metric(survivor.url, "longhaul_worker_jobs_completed_total", kind="pipeline")
        if completed < 1:
            raise SmokeFailure("worker kill", f"{survivor.role} did not complete the pipeline job")
        notes.append(
            f"{victim.role} killed (exit {state.get('ExitCode')}) mid-job; "
            f"{survivor.role} finished it {recovered:.1f}s later"
        )
        res.facts["kill"] = {
            "victim": victim.role,
            "survivor": survivor.role,
            "recovery_s": recovered,
        }

    with res.check("/metrics of gateway and worker") as notes:
        submitted = metric(gateway.url, "longhaul_gateway_job_submissions_total")
        if submitted < 3:
            raise SmokeFailure(
                "gateway metrics",
                f"longhaul_gateway_job_submissions_total = {submitted}, want >= 3",
            )
        requests_ = metric(gateway.url, "longhaul_gateway_requests_total")
        pipeline_done = metric(
            survivor.url, "longhaul_worker_jobs_completed_total", kind="pipeline"
        )
        steps = metric(survivor.url, "longhaul_worker_steps_total", kind="pipeline")
        if pipeline_done < 1 or steps < 1:
            raise SmokeFailure("worker metrics", f"completed={pipeline_done} steps={steps}")
        notes.append(
            f"gateway: {submitted:.0f} submissions, {requests_:.0f} requests "
            "(summed over its gunicorn workers from the multiprocess dir on tmpfs); "
            f"{survivor.role}: {pipeline_done:.0f} pipeline completed, {steps:.0f} steps"
        )

    if example_image:
        check_example(run, example_image, resonate_url, workers, res)

    with res.check("every log line of every container is JSON") as notes:
        for c in run.containers.values():
            notes.append(f"{c.role} {check_logs(c)}")

    res.facts["containers"] = {
        c.role: {"image": c.image, **{k: round(v, 2) for k, v in c.timings.items()}}
        for c in run.containers.values()
    }
    starts = res.facts["starts"] = {
        "gateway": [(gateway.timings["/healthz"], gateway.timings["/readyz"])],
        "worker": [(w.timings["/healthz"], w.timings["/readyz"]) for w in workers],
    }
    if start_samples:
        with res.check(f"{start_samples} more cold starts of each image") as notes:
            for i in range(start_samples):
                c = run.start(
                    f"gateway-s{i}", gateway_image, [], 8000,
                    {"RESONATE_URL": resonate_url, **GATEWAY_ENV}, GATEWAY_TMPFS,
                )  # fmt: skip
                starts["gateway"].append((wait_http(c, "/healthz"), wait_http(c, "/readyz")))
                podman("rm", "-f", "-t", "0", c.name)
                env = {"RESONATE_URL": resonate_url, "LONGHAUL_WORKER_PID": f"{c.name}-w"}
                c = run.start(f"worker-s{i}", worker_image, [], 9100, env, WORKER_TMPFS)
                starts["worker"].append((wait_http(c, "/healthz"), wait_http(c, "/readyz")))
                podman("rm", "-f", "-t", "0", c.name)
            for role, values in starts.items():
                ready = sorted(r for _, r in values)
                notes.append(f"{role} ready {ready[0]:.2f}-{ready[-1]:.2f}s over {len(ready)}")


# ── sizes and contents ──────────────────────────────────────────────────────


def image_facts(image: str) -> dict[str, Any]:
    info = json.loads(podman("image", "inspect", image).stdout)[0]
    history = json.loads(podman("history", "--format", "json", image).stdout)
    env = dict(e.split("=", 1) for e in info["Config"].get("Env") or [])
    return {
        "id": info["Id"][:12],
        "size": info["Size"],
        "layers": info["RootFS"]["Layers"],
        "stand_in_base": (info.get("Labels") or {}).get("io.longhaul.base.stand-in") == "true",
        "python": env.get("PYTHON_VERSION", "?"),
        "history": [
            (h.get("size", 0), " ".join((h.get("CreatedBy") or "").split())) for h in history
        ],
    }


def layer_label(created_by: str) -> str:
    text = created_by.removeprefix("/bin/sh -c ").removeprefix("#(nop) ").strip()
    if text.startswith("ADD file:"):
        return "base rootfs"
    if text.startswith(("COPY dir:", "COPY file:")):
        return "COPY"
    return text.split("&&")[0].strip()[:60]


PYLIB = r"usr/local/lib/python3\.\d+/"
VENV_SITE = r"app/\.venv/lib/python3\.\d+/site-packages/"


@dataclass(frozen=True)
class Rule:
    label: str
    verdict: str  # "should go" / "inherited from the base" / "expected"
    test: Callable[[str, tarfile.TarInfo], bool]


def _re(pattern: str) -> Callable[[str, tarfile.TarInfo], bool]:
    rx = re.compile(pattern)
    return lambda path, _m: rx.match(path) is not None


def _in_dir(names: set[str], under: str) -> Callable[[str, tarfile.TarInfo], bool]:
    rx = re.compile(under)
    return lambda path, _m: rx.match(path) is not None and bool(names & set(path.split("/")[:-1]))


RULES = [
    Rule("uv binary (build tool)", "should go", _re(r"(.*/)?bin/uvx?$")),
    Rule(
        "compilers, make, binutils",
        "should go",
        _re(r"usr/(local/)?bin/(gcc|g\+\+|cc|c\+\+|make|ld|as|cpp|x86_64-linux-gnu-.*)$"),
    ),
    Rule(
        "pip/setuptools/wheel in /app/.venv",
        "should go",
        _re(VENV_SITE + r"(pip|setuptools|wheel)\b"),
    ),
    Rule("test suites in /app/.venv packages", "should go", _in_dir({"test", "tests"}, VENV_SITE)),
    Rule("stdlib test suite", "should go", _in_dir({"test", "tests", "idle_test"}, PYLIB)),
    Rule(
        "__pycache__ outside /app/services and /app/.venv",
        "should go",
        lambda p, _m: (
            "__pycache__" in p.split("/")
            and not p.startswith(("app/services/", "app/longhaul/", "app/ext/", "app/.venv/"))
        ),
    ),
    Rule("static libraries (*.a)", "should go", _re(r".*\.a$")),
    Rule("build configuration (/etc/pip.conf, /etc/uv)", "should go", _re(r"etc/(pip\.conf|uv/)")),
    Rule(
        "caches in home directories or /tmp",
        "should go",
        _re(r"((root|home/[^/]+)/\.(cache|local|config|npm|pip)/|tmp/.)"),
    ),
    Rule("apt lists and caches", "should go", _re(r"var/(lib/apt/lists|cache/apt)/.")),
    Rule(
        "pip in the base interpreter (/usr/local/bin/pip*, site-packages/pip)",
        "inherited from the base",
        _re(r"usr/local/(bin/pip|lib/python3\.\d+/site-packages/pip)"),
    ),
    Rule(
        "stdlib a server never imports (idlelib, tkinter, turtledemo, lib2to3, ensurepip, ...)",
        "inherited from the base",
        _re(PYLIB + r"(idlelib|tkinter|turtledemo|lib2to3|ensurepip|pydoc_data)/"),
    ),
    Rule(
        "C headers and python3-config (/usr/local/include, config-3.x)",
        "inherited from the base",
        _re(r"usr/local/(include/|bin/python3?[.\d]*-config|lib/python3\.\d+/config-)"),
    ),
    Rule(
        "package manager and perl (apt, dpkg, perl-base)",
        "inherited from the base",
        _re(
            r"(usr/)?(s?bin/(apt|dpkg|perl)|lib/x86_64-linux-gnu/perl|share/perl|lib/apt|lib/dpkg)"
        ),
    ),
    Rule(
        "setuid/setgid programs (inert under no-new-privileges)",
        "inherited from the base",
        lambda _p, m: m.isfile() and bool(m.mode & 0o6000),
    ),
    Rule(
        "docs (beyond copyright)",
        "inherited from the base",
        _re(r"usr/share/(doc|man|info)/.*(?<!copyright)$"),
    ),
    Rule("venv activation scripts", "expected", _re(r"app/\.venv/bin/activate")),
]


def image_contents(run: Run, image: str) -> dict[str, Any]:
    """Stream `podman export` of a never-started container and sort its files by rule."""
    name = f"{run.prefix}-export-{uuid.uuid4().hex[:6]}"
    podman("create", "--name", name, "--label", run.label, *RUNTIME, image, "true")
    run.containers[name] = Container(name, name, image, 0)
    proc = subprocess.Popen(["podman", "export", name], stdout=subprocess.PIPE, env=podman_env())
    found: dict[str, list[int]] = {r.label: [0, 0] for r in RULES}
    examples: dict[str, list[str]] = defaultdict(list)
    packages: dict[str, int] = defaultdict(int)
    files = size_total = 0
    pyc = {"/app/services": 0, "/app/.venv": 0, "stdlib": 0}
    site = re.compile(VENV_SITE + r"([^/]+)/")
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            if member.isdir():
                continue
            path = member.name.removeprefix("./").lstrip("/")
            size = member.size if member.isfile() else 0
            files += 1
            size_total += size
            if path.endswith(".pyc"):
                for key, prefix in (
                    ("/app/services", "app/services/"),
                    ("/app/.venv", "app/.venv/"),
                ):
                    if path.startswith(prefix):
                        pyc[key] += 1
                if re.match(PYLIB, path):
                    pyc["stdlib"] += 1
            if m := site.match(path):
                packages[m.group(1).split("-")[0].lower().replace("_", "-")] += size
            for rule in RULES:
                if rule.test(path, member):
                    found[rule.label][0] += 1
                    found[rule.label][1] += size
                    top = "/" + "/".join(path.split("/")[:5])
                    if len(examples[rule.label]) < 2 and top not in examples[rule.label]:
                        examples[rule.label].append(top)
    if proc.wait() != 0:
        raise SmokeFailure("image contents", f"podman export {image} failed")
    return {
        "files": files,
        "bytes": size_total,
        "found": {label: (n, b, examples[label]) for label, (n, b) in found.items()},
        "pyc": pyc,
        "top_packages": sorted(packages.items(), key=lambda kv: -kv[1])[:6],
    }


# ── report ──────────────────────────────────────────────────────────────────


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def secs(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "-"


def last_build() -> dict[str, Any] | None:
    path = ROOT / ".tools/images/last-build.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def render_report(res: Results, images: dict[str, dict[str, Any]], started: float) -> str:
    first = next(iter(images.values()))
    version = podman("--version").stdout.split()[-1]
    now = dt.datetime.now(dt.UTC)
    out = [
        "# Container images: sizes, start times, contents",
        "",
        f"Generated by `python -m scripts.images.smoke` on {now:%Y-%m-%d %H:%M} UTC "
        f"({os.cpu_count()} CPUs, {platform.system()} {platform.release()}, podman {version}); "
        f"the whole smoke run took {time.monotonic() - started:.0f} s.",
        "",
    ]
    if any(i["stand_in_base"] for i in images.values()):
        out += [
            "> Built on the **local stand-in** for `python:3.12-slim-bookworm` (Debian bookworm",
            f"> minbase from debootstrap + the host's CPython {first['python']}, stripped),",
            "> because no registry is reachable here; a normal machine pulls the official image.",
            "> Sizes are therefore indicative. Like the official image, the stand-in has no",
            "> stdlib bytecode (the official build deletes `*.pyc` too), so each cold start",
            "> compiles in memory the stdlib modules it imports (read-only root filesystem,",
            "> PYTHONDONTWRITEBYTECODE=1).",
            "",
        ]
    out += ["## Images", "", "| image | id | size | layers | base |", "|---|---|---|---|---|"]
    for name, info in images.items():
        base = "local stand-in" if info["stand_in_base"] else "official"
        out.append(
            f"| `{name}` | {info['id']} | {mb(info['size'])} | {len(info['layers'])} "
            f"| {base}, Python {info['python']} |"
        )
    out += [
        "",
        "Non-empty layers, oldest first (the COPYs are /app/.venv, then /app/services):",
        "",
    ]
    for name, info in images.items():
        layers = [(s, layer_label(c)) for s, c in reversed(info["history"]) if s > 0]
        out.append(f"- `{name}`: " + "; ".join(f"{label} {mb(s)}" for s, label in layers))
    layer_sets = {tuple(i["layers"]) for i in images.values()}
    if len(images) == 2 and len(layer_sets) == 2:
        one, two = (i["layers"] for i in images.values())
        shared = next((n for n, (a, b) in enumerate(zip(one, two, strict=False)) if a != b), 0)
        out += [
            "",
            f"The two images share their first {shared} layer(s) (the base) and nothing above:",
            "their runtime stages diverge at the first instruction (LABEL), so the",
            "identical `/app/.venv` and `/app/services` copies are separate layers, stored",
            "and pulled once per image.",
        ]
    if len(images) > 1 and len(layer_sets) == 1:
        out += [
            "",
            "Both images have the same layers (both copy the whole `services/` tree and the",
            "same locked `.venv`): they differ only in their config (CMD, EXPOSE, ENV, labels),",
            "so a node that has one stores and pulls nothing more for the other.",
        ]
    build = last_build()
    if build:
        per_image = ", ".join(f"`{k}` {v:.0f} s" for k, v in build.get("images", {}).items())
        out += [
            "",
            f"Last `make images` ({build['finished']}): {build['total_s']:.0f} s in all; base "
            f"{build['base']} ({build['base_s']:.0f} s); {per_image}.",
        ]
    out += [
        "",
        "## Cold start to ready",
        "",
        "From `podman start` (container already created) to the first HTTP 200, polled every",
        "50 ms, with the chart's securityContext; the workers are started one after the other.",
        "",
        "| container | image | liveness (/healthz, /health) | readiness (/readyz, /ready) |",
        "|---|---|---|---|",
    ]
    for role, t in res.facts["containers"].items():
        if not t.get("/healthz", t.get("/health", t.get("/ready"))):
            continue
        health = t.get("/healthz", t.get("/health"))
        ready = t.get("/readyz", t.get("/ready"))
        out.append(f"| {role} | `{t['image']}` | {secs(health)} | {secs(ready)} |")
    starts = res.facts.get("starts", {})
    if any(len(v) > 1 for v in starts.values()):
        out += [
            "",
            "Every start measured in this run (the ones above plus the extra samples):",
            "",
            "| image | starts | /healthz median (min-max) | /readyz median (min-max) |",
            "|---|---|---|---|",
        ]
        for role, values in starts.items():
            cells = []
            for column in zip(*values, strict=True):
                ordered = sorted(column)
                cells.append(
                    f"{statistics.median(ordered):.2f} s ({ordered[0]:.2f}-{ordered[-1]:.2f})"
                )
            out.append(f"| {role} | {len(values)} | {cells[0]} | {cells[1]} |")
    if kill := res.facts.get("kill"):
        out += [
            "",
            f"Worker SIGKILL: `{kill['victim']}` was killed while running a `pipeline` job "
            f"(3 steps of 2 s); `{kill['survivor']}` finished it {kill['recovery_s']:.1f} s later "
            f"(lease {LEASE_TTL_S} s).",
        ]
    out += ["", "## Checks", "", "| check | time | details |", "|---|---|---|"]
    for name, took, notes in res.checks:
        out.append(f"| {name} | {took:.1f} s | {notes.replace('|', '/')} |")
    out += ["", "## What the final images still contain", ""]
    for name, contents in res.facts["contents"].items():
        pyc = contents["pyc"]
        out += [
            f"### {name}: {contents['files']} files, {mb(contents['bytes'])}",
            "",
            f"Bytecode: {pyc['/app/services']} `.pyc` in /app/services, {pyc['/app/.venv']} in "
            f"/app/.venv, {pyc['stdlib']} in the stdlib. Largest packages in /app/.venv: "
            + ", ".join(f"{p} {mb(s)}" for p, s in contents["top_packages"])
            + ".",
            "",
            "| what | verdict | files | size | e.g. |",
            "|---|---|---|---|---|",
        ]
        for rule in RULES:
            count, size, examples = contents["found"][rule.label]
            where = ", ".join(f"`{e}`" for e in examples)
            if count:
                out.append(f"| {rule.label} | {rule.verdict} | {count} | {mb(size)} | {where} |")
            else:
                out.append(f"| {rule.label} | absent | 0 | - | |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    tag = image_tag()
    parser = argparse.ArgumentParser(
        prog="python -m scripts.images.smoke", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--gateway-image", default=f"longhaul-gateway:{tag}")
    parser.add_argument("--worker-image", default=f"longhaul-worker:{tag}")
    parser.add_argument(
        "--example-image",
        default=f"longhaul-acme-jobs:{tag}",
        help="the example project's image (examples/acme-jobs); empty skips its check",
    )
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="Markdown report path")
    parser.add_argument("--no-analysis", action="store_true", help="skip sizes/contents (faster)")
    parser.add_argument(
        "--start-samples",
        type=int,
        default=3,
        help="extra cold starts of each image for the start-time figures (default 3)",
    )
    args = parser.parse_args(argv)

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    started = time.monotonic()
    run = Run()
    res = Results()
    print(
        f"smoke: run {run.prefix}: gateway {args.gateway_image}, worker {args.worker_image}",
        flush=True,
    )
    try:
        for image in (args.gateway_image, args.worker_image, args.example_image):
            if image and podman("image", "exists", image, check=False).returncode != 0:
                raise SmokeFailure("images", f"{image} does not exist: run `make images` first")
        run_checks(
            run,
            args.gateway_image,
            args.worker_image,
            res,
            args.start_samples,
            example_image=args.example_image,
        )
        if not args.no_analysis:
            images = {i: image_facts(i) for i in (args.gateway_image, args.worker_image)}
            with res.check("image contents") as notes:
                listings: dict[tuple[str, ...], tuple[list[str], dict[str, Any]]] = {}
                for image, info in images.items():
                    key = tuple(info["layers"])
                    if key in listings:  # the same filesystem: one listing covers both
                        listings[key][0].append(image)
                    else:
                        listings[key] = ([image], image_contents(run, image))
                # Same files (different layers): one table for both.
                merged: list[tuple[list[str], dict[str, Any]]] = []
                for names, listing in listings.values():
                    twin = next((m for m in merged if m[1] == listing), None)
                    if twin:
                        twin[0].extend(names)
                    else:
                        merged.append((list(names), listing))
                res.facts["contents"] = {
                    " and ".join(f"`{i}`" for i in names): c for names, c in merged
                }
                notes.append(f"{len(merged)} distinct file listing(s)")
            report = render_report(res, images, started)
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(report)
            print(report)
            print(f"smoke: report written to {args.report}")
    except SmokeFailure as exc:
        print(f"SMOKE FAILED: {exc.check}: {exc.why}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # e.g. a container dropped a connection mid-check
        traceback.print_exc()
        print(f"SMOKE FAILED: unexpected {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        run.cleanup()
    print(f"smoke: all checks passed in {time.monotonic() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
