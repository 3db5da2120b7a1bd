"""A job with authentication on at both hops: client → gateway (API keys, two tenants)
and gateway/workers → Resonate (JWTs the dev server checks by the real server's rules).

Tenant acme's job runs end to end; tenant globex cannot see it; and the
tenant prefix the gateway puts on promise ids is the boundary a Resonate token
with ``prefix: "acme."`` enforces on the server itself.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.common import resonate_token
from services.gateway.auth.keys import new_key
from services.gateway.auth.principal import ALL_SCOPES
from services.stack.resonate_auth import dev_auth
from tests.integration.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.mark.usefixtures("own_devserver")
def test_a_job_with_auth_on_at_both_hops(make_stack: StackFactory, tmp_path: Path) -> None:
    acme, acme_entry = new_key("acme", ALL_SCOPES, key_id="acme-1")
    globex, globex_entry = new_key("globex", ALL_SCOPES, key_id="globex-1")
    keys = tmp_path / "api-keys"
    keys.write_text(f"{acme_entry.line()}\n{globex_entry.line()}\n")
    resonate_auth = dev_auth(tmp_path / "resonate-keys")
    stack = make_stack(
        workers=1,
        devserver_env=resonate_auth.server_env(),
        gateway_env={
            **resonate_auth.client_env(),
            "LONGHAUL_AUTH_API_KEYS_FILE": str(keys),
            "LONGHAUL_ID_SECRET": "both-hops-id-secret-0123456789abcdef",
        },
        worker_env=resonate_auth.client_env(),
    )
    jobs = f"{stack.gateway_url}/v1/jobs"
    with httpx.Client(timeout=20) as client:
        submitted = client.post(
            jobs,
            json={"kind": "pipeline", "input": {"values": [1, 2, 3]}},
            headers={"Authorization": f"Bearer {acme}", "Idempotency-Key": "both-1"},
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        assert job_id.startswith("acme.job-")
        done = client.get(
            f"{jobs}/{job_id}", params={"wait": 15}, headers={"Authorization": f"Bearer {acme}"}
        )
        assert done.json()["status"] == "succeeded", done.text
        assert done.json()["result"]["stats"]["sum"] == 6
        other = client.get(f"{jobs}/{job_id}", headers={"Authorization": f"Bearer {globex}"})
        assert other.status_code == 404
        assert client.get(f"{jobs}/{job_id}").status_code == 401

        # On the Resonate server itself: a token limited to acme's prefix reads
        # acme's job and nothing of globex's.
        key = resonate_token.load_private_key(resonate_auth.private_key)

        def get(promise_id: str, prefix: str) -> int:
            token = resonate_token.mint(
                key,
                ttl_s=60,
                prefix=prefix,
                issuer=resonate_auth.issuer,
                audience=resonate_auth.audience,
            )
            envelope = {
                "kind": "promise.get",
                "head": {"corrId": "1", "version": "2026-04-01", "auth": token},
                "data": {"id": promise_id},
            }
            return client.post(f"{stack.resonate_url}/", json=envelope).status_code

        assert get(job_id, "acme.") == 200
        assert get(job_id, "globex.") == 403
