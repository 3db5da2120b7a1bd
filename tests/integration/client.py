"""A small synchronous client for the gateway and the workers' metrics."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.contract.ledger import LedgerEntry


class Api:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def submit(self, kind: str, input: dict[str, Any], key: str | None = None, **extra: Any):
        headers = {"Idempotency-Key": key} if key else {}
        return self.http.post(
            "/v1/jobs", json={"kind": kind, "input": input, **extra}, headers=headers
        )

    def submit_ok(self, kind: str, input: dict[str, Any], key: str | None = None) -> str:
        response = self.submit(kind, input, key)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def job(self, job_id: str, wait: float = 0) -> dict[str, Any]:
        response = self.http.get(f"/v1/jobs/{job_id}", params={"wait": wait})
        assert response.status_code == 200, response.text
        return response.json()

    def wait_done(self, job_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id, wait=min(5, max(0.1, deadline - time.monotonic())))
            if job["status"] != "pending" or time.monotonic() > deadline:
                return job


def metric_sum(urls: list[str], name: str, **labels: str) -> float:
    """Sum a counter over several processes' /metrics (dead ones count as zero)."""
    total = 0.0
    for url in urls:
        try:
            text = httpx.get(f"{url}/metrics", timeout=2).text
        except httpx.HTTPError:
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += sample.value
    return total


def ledger(resonate_url: str, job_id: str, step: str) -> list[LedgerEntry]:
    """Read the execution ledger with an SDK client, as the chaos checker does."""
    import asyncio

    from resonate.resonate import Resonate

    from services.contract.ledger import PromiseLedger

    async def read() -> list[LedgerEntry]:
        client = Resonate(url=resonate_url, sources=[], env={}, subscription_refresh_secs=0)
        try:
            return await PromiseLedger(client.promises, "reader").read(job_id, step)
        finally:
            await client.stop()

    return asyncio.run(read())
