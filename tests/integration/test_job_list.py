"""``GET /v1/jobs`` through real processes: a dev server, gunicorn with two web workers,
a worker; two tenants, one of them with failed jobs to find."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from services.gateway.auth.keys import new_key
from services.gateway.auth.principal import ALL_SCOPES
from services.stack.layout import REPO_ROOT
from tests.integration.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EXAMPLE_SRC = REPO_ROOT / "examples" / "acme-jobs" / "src"
MODULES = {
    "LONGHAUL_JOB_MODULES": "services.kinds.builtin,acme_jobs.kinds",
    "PYTHONPATH": f"{EXAMPLE_SRC}{os.pathsep}{REPO_ROOT}",
}


def test_a_tenant_lists_its_failed_jobs_and_nobody_elses(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    keys = tmp_path / "api-keys"
    a_key, a_entry = new_key("acme", ALL_SCOPES, key_id="acme-1")
    b_key, b_entry = new_key("globex", ALL_SCOPES, key_id="globex-1")
    keys.write_text(a_entry.line() + "\n" + b_entry.line() + "\n")
    stack = make_stack(
        workers=1,
        web_concurrency=2,
        gateway_env={
            **MODULES,
            "LONGHAUL_AUTH_API_KEYS_FILE": str(keys),
            "LONGHAUL_ID_SECRET": "integration-id-secret-0123456789abcdef",
        },
        worker_env=MODULES,
    )
    url = f"{stack.gateway_url}/v1/jobs"
    a = {"Authorization": f"Bearer {a_key}"}
    b = {"Authorization": f"Bearer {b_key}"}
    doomed = {"kind": "doomed", "input": {"reason": "bad input file"}}
    echo = {"kind": "echo", "input": {}}
    with httpx.Client(timeout=15) as client:

        def submit(body: dict[str, object], headers: dict[str, str]) -> str:
            response = client.post(url, json=body, headers=headers)
            assert response.status_code == 202, response.text
            return response.json()["id"]

        a_failed = {submit(doomed, a) for _ in range(3)}
        a_ok = {submit(echo, a) for _ in range(2)}
        b_failed = {submit(doomed, b) for _ in range(2)}
        for job_id, headers in [
            *((j, a) for j in a_failed | a_ok),
            *((j, b) for j in b_failed),
        ]:
            done = client.get(f"{url}/{job_id}", params={"wait": 20}, headers=headers).json()
            assert done["status"] != "pending", done

        # Page by page (limit 2), every request possibly on another gunicorn worker.
        listed: list[dict[str, object]] = []
        params: dict[str, object] = {"status": "failed", "limit": 2}
        while True:
            page = client.get(url, params=params, headers=a)
            assert page.status_code == 200, page.text
            listed += page.json()["jobs"]
            if page.json()["next_cursor"] is None:
                break
            params["cursor"] = page.json()["next_cursor"]
        assert [job["id"] for job in listed] == sorted(a_failed)
        assert {job["error"]["message"] for job in listed} == {"bad input file"}
        assert all(job["status"] == "failed" for job in listed)

        theirs = client.get(url, params={"status": "failed"}, headers=b).json()
        assert {job["id"] for job in theirs["jobs"]} == b_failed
        everything_b = client.get(url, params={"limit": 1000}, headers=b).json()
        assert not {job["id"] for job in everything_b["jobs"]} & (a_failed | a_ok)
        # A's cursor is no way into A's range for B.
        forged = client.get(url, params={"cursor": params.get("cursor", "x")}, headers=b)
        assert forged.status_code == 422
