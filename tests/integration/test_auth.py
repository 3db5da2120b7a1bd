"""Gateway authentication through real processes: gunicorn with two web workers, a key
file edited while requests run, two tenants on one Resonate server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from services.gateway.auth.keys import KeyEntry, new_key
from services.gateway.auth.principal import ALL_SCOPES
from tests.integration.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _write(path: Path, entries: list[KeyEntry]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(e.line() + "\n" for e in entries))
    os.replace(tmp, path)


def test_two_tenants_and_a_key_rotation_across_web_workers(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    keys = tmp_path / "api-keys"
    a_old, a_old_entry = new_key("acme", ALL_SCOPES, key_id="acme-1")
    b_key, b_entry = new_key("globex", ALL_SCOPES, key_id="globex-1")
    _write(keys, [a_old_entry, b_entry])
    stack = make_stack(
        workers=1,
        web_concurrency=2,
        gateway_env={
            "LONGHAUL_AUTH_API_KEYS_FILE": str(keys),
            "LONGHAUL_AUTH_RELOAD_INTERVAL_S": "0.2",
            "LONGHAUL_ID_SECRET": "integration-id-secret-0123456789abcdef",
        },
    )
    url = f"{stack.gateway_url}/v1/jobs"

    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    with httpx.Client(timeout=15) as client:
        assert client.post(url, json={"kind": "echo", "input": {}}).status_code == 401
        body = {"kind": "echo", "input": {"who": "acme"}}
        headers = {"Idempotency-Key": "k-1"}
        job = client.post(url, json=body, headers={**headers, **auth(a_old)}).json()
        assert job["id"].startswith("acme.job-")
        done = client.get(f"{url}/{job['id']}", params={"wait": 10}, headers=auth(a_old)).json()
        assert done["result"] == {"who": "acme"}
        # Tenant B: not found for read, long-poll and cancel; its own key k-1 is its own job.
        for method, params in (("GET", {}), ("GET", {"wait": "1"}), ("DELETE", {})):
            other = client.request(method, f"{url}/{job['id']}", params=params, headers=auth(b_key))
            assert other.status_code == 404
        theirs = client.post(url, json=body, headers={**headers, **auth(b_key)}).json()
        assert theirs["id"].startswith("globex.job-") and "idempotent" not in str(theirs)

        # Rotation: add acme's new key, then remove the old one. Several requests, so both
        # gunicorn workers answer, each with its own view of the file.
        a_new, a_new_entry = new_key("acme", ALL_SCOPES, key_id="acme-2")
        _write(keys, [a_old_entry, a_new_entry, b_entry])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = {
                client.get(f"{url}/{job['id']}", headers=auth(a_new)).status_code for _ in range(8)
            }
            if got == {200}:
                break
            time.sleep(0.1)
        assert got == {200}, got
        _write(keys, [a_new_entry, b_entry])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = {
                client.get(f"{url}/{job['id']}", headers=auth(a_old)).status_code for _ in range(8)
            }
            if got == {401}:
                break
            time.sleep(0.1)
        assert got == {401}, got
        assert client.get(f"{url}/{job['id']}", headers=auth(a_new)).status_code == 200
        metrics = client.get(f"{stack.gateway_url}/metrics").text
        assert 'longhaul_gateway_auth_failures_total{reason="unknown_key"}' in metrics
        assert 'longhaul_gateway_auth_failures_total{reason="missing"}' in metrics
