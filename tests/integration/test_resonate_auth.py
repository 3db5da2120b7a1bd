"""A whole job path with Resonate JWT auth on at both hops, across token renewals.

The dev server verifies JWTs by the real server's rules with no leeway past
``exp``; gateway and workers mint tokens of 6 s and renew them every 3 s. Jobs
that run past several lifetimes still complete, and after the first tokens
have expired the workers' streams are cut: they can only come back (and take
new work) with a renewed token on the reconnect. Fails on the old code, whose
processes sent one static token (and whose listener reused its first headers).
"""

from __future__ import annotations

import time

import httpx
import pytest

from services.common import resonate_token
from services.stack.resonate_auth import dev_auth
from tests.integration.client import Api, metric_sum
from tests.integration.conftest import StackFactory
from tests.integration.test_stack import worker_urls

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TTL_S = 6


@pytest.mark.usefixtures("own_devserver")
def test_jobs_complete_with_auth_on_across_renewals(make_stack: StackFactory, tmp_path) -> None:
    auth = dev_auth(tmp_path / "keys")
    client_env = {**auth.client_env(), "LONGHAUL_RESONATE_AUTH_TTL_S": str(TTL_S)}
    stack = make_stack(
        devserver_env={
            **auth.server_env(),
            "LONGHAUL_DEVSERVER_AUTH_LEEWAY_S": "0",
            "LONGHAUL_DEVSERVER_TEST_ROUTES": "true",
        },
        gateway_env=client_env,
        worker_env=client_env,
    )
    api = Api(stack.gateway_url)
    started = time.time()
    echo = api.submit_ok("echo", {"msg": "hi"})
    nap = api.submit_ok("sleep", {"seconds": 2 * TTL_S})  # heartbeats across two lifetimes
    report = api.submit_ok("pipeline", {"values": [3, 1, 2]})
    assert api.wait_done(echo)["result"] == {"msg": "hi"}
    assert api.wait_done(report)["result"]["stats"]["count"] == 3
    assert api.wait_done(nap, timeout=40)["result"] == {"slept": 2 * TTL_S}
    assert time.time() - started > TTL_S  # the first tokens are dead by now

    # Every worker's stream is cut; only a renewed token gets it back.
    closed = httpx.post(f"{stack.resonate_url}/test/close-streams", params={"group": "worker"})
    assert closed.json()["closed"] >= 2
    after = api.submit_ok("echo", {"after": "reconnect"})
    assert api.wait_done(after, timeout=30)["result"] == {"after": "reconnect"}

    expiry = metric_sum(
        worker_urls(stack), "longhaul_worker_resonate_token_expiry_timestamp_seconds"
    )
    assert expiry > 2 * (started + TTL_S)  # two workers, each on a renewed token
    gateway_metrics = httpx.get(f"{stack.gateway_url}/metrics").text
    assert 'longhaul_gateway_resonate_token_expiry_timestamp_seconds{mode="minted"}' in (
        gateway_metrics
    )

    # The server itself refuses what it should: no token, a foreign prefix.
    envelope = {
        "kind": "promise.get",
        "head": {"corrId": "1", "version": "2026-04-01"},
        "data": {"id": after},
    }
    assert httpx.post(f"{stack.resonate_url}/", json=envelope).status_code == 401
    key = resonate_token.load_private_key(auth.private_key)
    envelope["head"]["auth"] = resonate_token.mint(
        key, ttl_s=60, prefix="acme.", issuer=auth.issuer, audience=auth.audience
    )
    assert httpx.post(f"{stack.resonate_url}/", json=envelope).status_code == 403
    envelope["head"]["auth"] = resonate_token.mint(
        key, ttl_s=60, admin=True, issuer=auth.issuer, audience=auth.audience
    )
    answer = httpx.post(f"{stack.resonate_url}/", json=envelope)
    assert answer.status_code == 200 and answer.json()["data"]["promise"]["state"] == "resolved"


@pytest.mark.usefixtures("own_devserver")
def test_a_static_token_is_never_silent(tmp_path) -> None:
    """RESONATE_TOKEN near its exp: ready, but an error line and the expiry gauge say so;
    past its exp: the worker is not ready, and says why."""
    import os

    from services.stack.local import LocalStack

    auth = dev_auth(tmp_path / "keys")
    key = resonate_token.load_private_key(auth.private_key)
    claims = {"admin": True, "issuer": auth.issuer, "audience": auth.audience}
    soon = resonate_token.mint(key, ttl_s=3600, **claims)
    gone = resonate_token.mint(key, ttl_s=60, now=time.time() - 3600, **claims)
    env = {**os.environ, "LONGHAUL_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    stack = LocalStack(env, log_dir=tmp_path / "logs")
    try:
        stack.start_devserver(**auth.server_env())
        expiring = stack.add_worker(RESONATE_TOKEN=soon)
        expired = stack.add_worker(RESONATE_TOKEN=gone)
        expiring.wait_ready()
        url = expiring.spec.ready_url.rsplit("/", 1)[0]
        gauge = metric_sum([url], "longhaul_worker_resonate_token_expiry_timestamp_seconds")
        assert gauge == resonate_token.inspect(soon).expires_at
        deadline = time.monotonic() + 15
        log = tmp_path / "logs" / "worker-1.log"
        while not any(
            "RESONATE_TOKEN expires soon" in line and '"level":"error"' in line
            for line in log.read_text().splitlines()
        ):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        while True:
            try:  # its ops port may not be open yet
                answer = httpx.get(expired.spec.ready_url, timeout=2)
            except httpx.TransportError as exc:
                detail = repr(exc)
            else:
                if answer.status_code == 503 and "expired" in answer.json()["reason"]:
                    break
                detail = answer.text
            assert time.monotonic() < deadline, detail
            time.sleep(0.2)
    finally:
        stack.stop(timeout=10)
