"""One local stack under a real Prometheus, shared by the live tests of this package.

Two workers of 4 slots each, the test kinds (``hold`` holds a slot), Resonate
auth on with a static token (so the token-expiry series exist), and a
Prometheus scraping gateway, workers and the dev server every second.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from services.common import resonate_token
from services.stack.local import LocalStack
from services.stack.processes import free_port
from services.stack.resonate_auth import dev_auth
from tests.observability.prometheus import Prometheus
from tests.webhook_receiver import TEST_SECRET, ThreadedReceiver

WORKERS = 2
CONCURRENCY = 4
MODULES = "services.kinds.builtin,tests.kinds"
RETRY_TIMEOUT_MS = 30_000
TOKEN_TTL_S = 2 * 86400  # a static token that LonghaulResonateTokenExpiring sees coming


@dataclass
class Observed:
    stack: LocalStack
    prometheus: Prometheus
    worker_metrics: list[str]
    token_expires_at: float
    #: Signed completion webhooks arrive here (the webhook rows of the dashboard).
    receiver: ThreadedReceiver

    @property
    def gateway(self) -> str:
        return self.stack.gateway_url

    def submit(self, kind: str, payload: dict, notify: bool = False) -> httpx.Response:
        body: dict = {"kind": kind, "input": payload}
        if notify:
            body["notify"] = {"url": self.receiver.url}
        return httpx.post(f"{self.gateway}/v1/jobs", json=body, timeout=10)

    def wait_done(self, job_ids: list[str], timeout_s: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        status: dict[str, str] = {}
        for job_id in job_ids:
            while True:
                body = httpx.get(f"{self.gateway}/v1/jobs/{job_id}", timeout=10).json()
                if body["status"] != "pending":
                    status[job_id] = body["status"]
                    break
                assert time.monotonic() < deadline, f"{job_id} still pending"
                time.sleep(0.2)
        return status


@pytest.fixture(scope="package")
def observed(
    tmp_path_factory: pytest.TempPathFactory, resonate_url: str | None
) -> Iterator[Observed]:
    if resonate_url is not None:
        pytest.skip("needs a dev server of its own (its /metrics, static-token auth)")
    base = tmp_path_factory.mktemp("observed")
    auth = dev_auth(base / "keys")
    key = resonate_token.load_private_key(auth.private_key)
    token = resonate_token.mint(
        key, ttl_s=TOKEN_TTL_S, admin=True, issuer=auth.issuer, audience=auth.audience
    )
    env = {
        **os.environ,
        "LONGHAUL_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        "LONGHAUL_JOB_MODULES": MODULES,
        "RESONATE_TOKEN": token,
        # Webhooks to a receiver on loopback: their metrics feed the dashboard's rows.
        "LONGHAUL_WEBHOOK_SECRETS": TEST_SECRET,
        "LONGHAUL_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    receiver = ThreadedReceiver()
    stack = LocalStack(env, log_dir=base / "logs")
    prometheus: Prometheus | None = None
    try:
        # The real server's default retry timer (30 s), not the stack's 5 s: a task
        # queued in one worker and offered again to another is counted by both
        # (docs/scaling.md#what-the-signal-does-not-see); no re-offer happens here.
        stack.start_devserver(
            db_path=base / "devserver.sqlite3",
            retry_timeout_ms=RETRY_TIMEOUT_MS,
            **auth.server_env(),
        )
        stack.start_gateway(web_concurrency=2)
        ports = [free_port() for _ in range(WORKERS)]
        for port in ports:
            stack.add_worker(
                ttl_s=10.0, metrics_port=port, LONGHAUL_WORKER_CONCURRENCY=str(CONCURRENCY)
            )
        stack.wait_ready()
        host = lambda url: url.removeprefix("http://")  # noqa: E731
        prometheus = Prometheus(
            {
                "gateway": [host(stack.gateway_url)],
                "worker": [f"127.0.0.1:{port}" for port in ports],
                "resonate": [host(stack.resonate_url)],
            },
            base / "prometheus",
        ).start()
        observed = Observed(
            stack,
            prometheus,
            [f"http://127.0.0.1:{port}/metrics" for port in ports],
            resonate_token.inspect(token).expires_at,
            receiver,
        )
        prometheus.wait_for(
            lambda: prometheus.targets_up() == {"gateway": 1, "worker": WORKERS, "resonate": 1},
            timeout_s=30,
        )
        yield observed
    finally:
        receiver.close()
        if prometheus is not None:
            prometheus.stop()
        stack.stop(timeout=10)
