"""A real Prometheus (Debian's 2.42, installed by scripts/prometheus.sh) on loopback.

It scrapes a local stack every second with the labels the chart's
ServiceMonitors give its targets (``job`` = the component, ``namespace`` = the
release namespace), loads the chart's alert rules, and answers instant
queries through its HTTP API.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from services.stack.processes import free_port
from tests.observability.promql import ROOT, RULES_FILE

NAMESPACE = "longhaul"  # the namespace tests/chart renders the chart into


def binaries() -> Path:
    """The directory holding prometheus and promtool, installed when missing."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "prometheus.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"scripts/prometheus.sh failed:\n{out.stderr}")
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Prometheus:
    targets: dict[str, list[str]]
    workdir: Path
    interval_s: float = 1.0
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict:
        interval = f"{int(self.interval_s * 1000)}ms"
        return {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(RULES_FILE)],
            "scrape_configs": [
                {
                    "job_name": job,
                    "scrape_timeout": interval,
                    "static_configs": [{"targets": hosts, "labels": {"namespace": NAMESPACE}}],
                }
                for job, hosts in self.targets.items()
            ],
        }

    def start(self, timeout_s: float = 30.0) -> Prometheus:
        bin_dir = binaries()
        config = self.workdir / "prometheus.yml"
        self.workdir.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(self.config()))
        log = (self.workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(bin_dir / "prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()}"
                )
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("prometheus not ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        """Instant query; raises on a PromQL error (a bad expression is a failure, not no data)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        answer = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        if answer.get("status") != "success":
            raise AssertionError(f"{expr!r}: {answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]["result"]

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single value of ``expr`` (None when it returns nothing)."""
        result = self.query(expr, at)
        if not result:
            return None
        assert len(result) == 1, f"{expr!r} returned {len(result)} series"
        return float(result[0]["value"][1])

    def targets_up(self) -> dict[str, int]:
        active = httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        up: dict[str, int] = {}
        for target in active:
            job = target["labels"]["job"]
            up[job] = up.get(job, 0) + (target["health"] == "up")
        return up

    def rules_health(self) -> dict[str, str]:
        groups = httpx.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return {r["name"]: r["health"] for g in groups for r in g["rules"]}

    def wait_for(self, predicate, timeout_s: float, every_s: float = 0.5):
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(every_s)
        raise TimeoutError(f"not within {timeout_s}s (last: {last!r})")
