"""The gateway sends a token the server accepts in head.auth, renewed before it expires.

``sdk_auth`` writes where resonate-sdk 0.8.1 keeps its token; the pins here
fail if the SDK moves it. The renewal test fails on the old gateway (one
static token, read once).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from pathlib import Path
from typing import Any

import pytest
from resonate.connections import LocalConnection
from resonate.resonate import Resonate
from resonate.send import Sender

from services.common import resonate_token
from services.devserver.auth import JwtVerifier
from services.gateway import sdk_auth
from services.gateway.app import connect_resonate
from services.gateway.settings import GatewaySettings
from tests.support import create_app, gateway_settings, running

pytestmark = pytest.mark.unit


def test_the_pinned_sdk_is_installed() -> None:
    from importlib.metadata import version

    assert version("resonate-sdk") == sdk_auth.SDK_VERSION


def test_where_the_sdk_keeps_its_token() -> None:
    assert "auth=self.auth" in inspect.getsource(Sender._make_head)
    assert "self._network = net" in inspect.getsource(Resonate.__init__)


async def test_apply_token_reaches_head_auth_and_the_header() -> None:
    resonate = connect_resonate(gateway_settings(resonate_url="http://127.0.0.1:9"))
    try:
        assert resonate._sender._make_head().auth is None
        sdk_auth.apply_token(resonate, "new")
        assert resonate._sender._make_head().auth == "new"
        assert resonate._network._auth_headers({}) == {"Authorization": "Bearer new"}
    finally:
        await resonate.stop()


class RecordingNetwork(LocalConnection):
    """The in-process server, recording each envelope's head.auth on the way."""

    def __init__(self) -> None:
        super().__init__()
        self.auths: list[Any] = []

    async def send(self, req: str, headers: dict[str, str] | None = None) -> str:
        self.auths.append(json.loads(req)["head"].get("auth"))
        return await super().send(req, headers)


async def test_minted_tokens_are_sent_and_renewed(tmp_path: Path) -> None:
    private, public = resonate_token.write_key_pair(tmp_path)
    network = RecordingNetwork()

    def factory(_settings: GatewaySettings) -> Resonate:
        return Resonate(network=network, sources=[], env={}, subscription_refresh_secs=0)

    settings = gateway_settings(
        LONGHAUL_RESONATE_AUTH_PRIVATE_KEY=str(private),
        LONGHAUL_RESONATE_AUTH_TTL_S=5,
        RESONATE_AUTH__ISS="longhaul",
        RESONATE_AUTH__AUD="resonate",
    )
    verifier = JwtVerifier.from_pem_file(public, issuer="longhaul", audience="resonate")
    app = create_app(settings, resonate_factory=factory)
    async with running(app) as client:
        assert (await client.get("/v1/jobs/default.job-x")).status_code == 404
        first = network.auths[-1]
        claims = verifier.claims(first)
        assert claims is not None and claims["role"] == "admin" and claims["aud"] == ["resonate"]
        metrics = (await client.get("/metrics")).text
        line = next(
            m
            for m in metrics.splitlines()
            if m.startswith("longhaul_gateway_resonate_token_expiry")
        )
        assert 'mode="minted"' in line and float(line.split()[-1]) == claims["exp"]
        await asyncio.sleep(2.5 + 0.6)  # half of the 5 s lifetime, and some
        assert (await client.get("/v1/jobs/default.job-x")).status_code == 404
        second = network.auths[-1]
        assert second != first and verifier.claims(second) is not None
        assert verifier.claims(second)["exp"] > claims["exp"]
        assert verifier.claims(second)["exp"] > time.time() + 2
