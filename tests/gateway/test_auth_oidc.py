"""OIDC bearer tokens: claims, algorithms, a JWKS URL that rotates its keys, a JWKS file."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.gateway.conftest import ID_SECRET
from tests.support import (
    counter,
    create_app,
    gateway_settings,
    in_process_resonate,
    running,
    worker_deps,
)

pytestmark = pytest.mark.unit

ISSUER = "https://idp.example.test/"
AUDIENCE = "longhaul-api"
ALL = "jobs:submit jobs:read jobs:cancel"


@dataclass
class SigningKey:
    kid: str
    private: Any
    alg: str = "RS256"

    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg.startswith(("RS", "PS")) else ECAlgorithm
        data = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now, "sub": "svc-1"}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, self.private, algorithm=self.alg, headers={"kid": self.kid})


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


@dataclass
class JwksServer:
    keys: list[SigningKey]
    fetches: int = 0
    down: bool = False
    server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer([rsa_key("k1")])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            if state.down:
                self.send_response(503)
                self.end_headers()
                return
            body = json.dumps({"keys": [k.jwk() for k in state.keys]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.server.shutdown()
    state.server.server_close()


@dataclass
class OidcGateway:
    client: httpx.AsyncClient
    app: Any
    jwks: JwksServer

    async def submit(self, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(
            "/v1/jobs", json={"kind": "echo", "input": {}}, headers=headers
        )


@pytest.fixture
async def oidc(jwks_server: JwksServer) -> AsyncIterator[OidcGateway]:
    settings = gateway_settings(
        auth_mode="required",
        auth_oidc_issuer=ISSUER,
        auth_oidc_audience=AUDIENCE,
        auth_oidc_jwks_url=jwks_server.url,
        id_secret=ID_SECRET,
    )
    app = create_app(settings, resonate_factory=in_process_resonate(worker_deps()))
    async with running(app) as client:
        yield OidcGateway(client, app, jwks_server)


def failures(gw: OidcGateway, reason: str) -> float:
    return counter(gw.app.state.metrics, "longhaul_gateway_auth_failures_total", reason=reason)


async def test_a_valid_token_submits_and_reads_in_its_tenant(oidc: OidcGateway) -> None:
    key = oidc.jwks.keys[0]
    token = key.token(tenant="acme", scope=ALL)
    response = await oidc.submit(token)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert job_id.startswith("acme.job-")
    other = key.token(tenant="globex", scope=ALL)
    read = await oidc.client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {other}"})
    assert read.status_code == 404
    mine = await oidc.client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    assert oidc.jwks.fetches == 1  # fetched at start-up, then served from memory


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "expired_token"),
        ({"aud": "someone-else"}, "invalid_token"),
        ({"iss": "https://evil.example/"}, "invalid_token"),
        ({"exp": None}, "invalid_token"),
        ({"aud": None}, "invalid_token"),
        ({"iss": None}, "invalid_token"),
        ({"nbf": int(time.time()) + 600}, "invalid_token"),
        ({"tenant": None}, "no_tenant"),
        ({"tenant": "Not A Tenant"}, "no_tenant"),
        ({"tenant": "ledger"}, "no_tenant"),
    ],
)
async def test_bad_claims_are_401(oidc: OidcGateway, claims: dict, reason: str) -> None:
    base = {"tenant": "acme", "scope": ALL}
    token = oidc.jwks.keys[0].token(**{**base, **claims})
    before = failures(oidc, reason)
    response = await oidc.submit(token)
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert failures(oidc, reason) == before + 1


async def test_aud_as_a_list_and_scopes_as_a_list_claim(oidc: OidcGateway) -> None:
    token = oidc.jwks.keys[0].token(tenant="acme", aud=["other", AUDIENCE], scope="jobs:submit")
    assert (await oidc.submit(token)).status_code == 202
    read_only = oidc.jwks.keys[0].token(tenant="acme", scope="jobs:read")
    assert (await oidc.submit(read_only)).status_code == 403


@pytest.mark.parametrize("attack", ["alg-none", "hs256-with-public-key", "other-signer"])
async def test_forged_tokens_are_401(oidc: OidcGateway, attack: str) -> None:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(time.time()) + 300,
        "tenant": "acme",
        "scope": ALL,
    }
    if attack == "alg-none":
        token = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    elif attack == "hs256-with-public-key":
        # The classic confusion: HMAC keyed with the public key (PyJWT won't sign it: by hand).
        public_pem = (
            oidc.jwks.keys[0]
            .private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
        body = _b64(json.dumps(claims).encode())
        mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
        token = f"{head}.{body}.{_b64(mac)}"
    else:
        token = rsa_key("k1").token(tenant="acme", scope=ALL)  # right kid, wrong key
    response = await oidc.submit(token)
    assert response.status_code == 401


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_jwks_rotation(oidc: OidcGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.gateway.auth import oidc as oidc_module

    old = oidc.jwks.keys[0]
    old_token = old.token(tenant="acme", scope=ALL)
    assert (await oidc.submit(old_token)).status_code == 202
    verifier = oidc.app.state.auth.oidc
    # As if the start-up fetch was longer ago than the refetch interval (2 s).
    monkeypatch.setattr(verifier.keys, "_attempted_at", verifier.keys._attempted_at - 3)
    # The provider publishes a new key beside the old one and starts signing with it.
    new = SigningKey("k2", ec.generate_private_key(ec.SECP256R1()), alg="ES256")
    oidc.jwks.keys = [old, new]
    new_token = new.token(tenant="acme", scope=ALL)
    assert (await oidc.submit(new_token)).status_code == 202  # unknown kid: refetched at once
    assert oidc.jwks.fetches == 2
    assert (await oidc.submit(old_token)).status_code == 202  # both valid during the overlap
    # Then drops the old key: once the gateway refetches, old tokens fail even if cached.
    oidc.jwks.keys = [new]
    monkeypatch.setattr(verifier.keys, "_min_refetch_s", 0.0)
    made_up = new.token(tenant="acme", scope=ALL)
    made_up = jwt.encode(
        jwt.decode(made_up, options={"verify_signature": False}),
        new.private,
        algorithm="ES256",
        headers={"kid": "k3"},
    )
    assert (await oidc.submit(made_up)).status_code == 401  # unknown kid, after a refetch
    assert oidc.jwks.fetches == 3
    assert (await oidc.submit(old_token)).status_code == 401
    assert (await oidc.submit(new_token)).status_code == 202
    assert oidc_module.TOKEN_CACHE_S <= 60


async def test_made_up_kids_cannot_hammer_the_provider(oidc: OidcGateway) -> None:
    key = oidc.jwks.keys[0]
    for n in range(5):
        token = jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "tenant": "acme"},
            key.private,
            algorithm="RS256",
            headers={"kid": f"nope-{n}"},
        )
        assert (await oidc.submit(token)).status_code == 401
    assert oidc.jwks.fetches == 1  # start-up; then at most one refetch per 2 s


async def test_provider_down_from_the_start_is_503(jwks_server: JwksServer) -> None:
    jwks_server.down = True
    settings = gateway_settings(
        auth_mode="required",
        auth_oidc_issuer=ISSUER,
        auth_oidc_audience=AUDIENCE,
        auth_oidc_jwks_url=jwks_server.url,
        id_secret=ID_SECRET,
    )
    app = create_app(settings, resonate_factory=in_process_resonate(worker_deps()))
    async with running(app) as client:  # starts although the provider is down
        token = jwks_server.keys[0].token(tenant="acme", scope=ALL)
        response = await client.post(
            "/v1/jobs",
            json={"kind": "echo", "input": {}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 503
        assert response.json()["type"] == "urn:longhaul:problem:auth-unavailable"
        assert "retry-after" in response.headers


async def test_jwks_file_and_nested_claims(tmp_path: Path) -> None:
    key1, key2 = rsa_key("f1"), rsa_key("f2")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key1.jwk()]}))
    settings = gateway_settings(
        auth_mode="required",
        auth_oidc_issuer=ISSUER,
        auth_oidc_audience=AUDIENCE,
        auth_oidc_jwks_file=path,
        auth_oidc_tenant_claim="ext.org",
        auth_oidc_scopes_claim="permissions",
        auth_reload_interval_s=0.05,
        id_secret=ID_SECRET,
    )
    app = create_app(settings, resonate_factory=in_process_resonate(worker_deps()))

    async def submit(client: httpx.AsyncClient, key: SigningKey) -> int:
        token = key.token(ext={"org": "acme"}, permissions=["jobs:submit"])
        response = await client.post(
            "/v1/jobs",
            json={"kind": "echo", "input": {}},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code

    async with running(app) as client:
        assert await submit(client, key1) == 202
        assert await submit(client, key2) == 401
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"keys": [key2.jwk()]}))
        tmp.replace(path)
        await asyncio.sleep(0.1)
        assert await submit(client, key2) == 202
        assert await submit(client, key1) == 401
        path.write_text("{not json")  # a broken file keeps the keys in force
        await asyncio.sleep(0.1)
        assert await submit(client, key2) == 202


async def test_api_keys_and_oidc_together(tmp_path: Path, jwks_server: JwksServer) -> None:
    from services.gateway.auth.keys import new_key
    from services.gateway.auth.principal import ALL_SCOPES
    from tests.gateway.conftest import write_keys

    plain, entry = new_key("acme", ALL_SCOPES)
    write_keys(tmp_path / "keys", [entry])
    settings = gateway_settings(
        auth_mode="required",
        auth_api_keys_file=tmp_path / "keys",
        auth_oidc_issuer=ISSUER,
        auth_oidc_audience=AUDIENCE,
        auth_oidc_jwks_url=jwks_server.url,
        id_secret=ID_SECRET,
    )
    app = create_app(settings, resonate_factory=in_process_resonate(worker_deps()))
    async with running(app) as client:
        token = jwks_server.keys[0].token(tenant="acme", scope=ALL)
        for credential in (plain, token):
            response = await client.post(
                "/v1/jobs",
                json={"kind": "echo", "input": {}},
                headers={"Authorization": f"Bearer {credential}", "Idempotency-Key": "same"},
            )
            assert response.status_code == 202
        spec = (await client.get("/openapi.json")).json()
        assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "OIDC"}
        assert spec["paths"]["/v1/jobs"]["post"]["security"] == [{"ApiKey": []}, {"OIDC": []}]
