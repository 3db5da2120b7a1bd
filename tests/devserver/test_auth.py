"""The dev server refuses exactly the JWTs the real server v0.9.8 refuses (src/auth.rs).

Tokens are signed here with PyJWT directly (not through the project's mint
code), each claim written out, so a rule of the verifier cannot be satisfied
by a bug shared with the minting side. All of these fail on the old dev server
(a shared bearer token, no JWT at all).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from services.devserver.auth import AuthConfigError, JwtVerifier
from services.devserver.server import DevServer
from services.devserver.settings import DevServerSettings
from tests.devserver.wire_client import envelope

pytestmark = pytest.mark.unit

NOW = 1_800_000_000


def _write_public(tmp_path: Path, name: str, private: Any) -> Path:
    path = tmp_path / f"{name}.pem"
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "other_p256": ec.generate_private_key(ec.SECP256R1()),
    }


def verifier(tmp_path: Path, private: Any, **kwargs: Any) -> JwtVerifier:
    return JwtVerifier.from_pem_file(
        _write_public(tmp_path, "public", private), clock=lambda: NOW, **kwargs
    )


def sign(private: Any, alg: str, **claims: Any) -> str:
    """JWS over the raw JSON claims: PyJWT's jwt.encode would refuse some bad ones."""
    return jwt.api_jws.encode(json.dumps(claims).encode(), private, algorithm=alg)


ADMIN = {"exp": NOW + 600, "role": "admin"}


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        ("rsa", "RS256"),
        ("rsa", "RS384"),
        ("rsa", "RS512"),
        ("rsa", "PS256"),
        ("rsa", "PS512"),
        ("p256", "ES256"),
        ("p384", "ES384"),
        ("ed25519", "EdDSA"),
    ],
)
def test_the_algorithm_of_the_key_type_is_accepted(tmp_path, keys, key, alg) -> None:
    v = verifier(tmp_path, keys[key])
    assert v.claims(sign(keys[key], alg, **ADMIN)) is not None


@pytest.mark.parametrize(
    ("server_key", "token_key", "alg"),
    [
        ("rsa", "p256", "ES256"),  # an EC token for an RSA key
        ("p256", "p384", "ES384"),  # ES384 for a P-256 key (ring: P-256 is ES256 only)
        ("p384", "p256", "ES256"),
        ("p256", "rsa", "RS256"),
        ("ed25519", "p256", "ES256"),
        ("p256", "other_p256", "ES256"),  # right alg, someone else's key
    ],
)
def test_a_wrong_algorithm_or_key_is_refused(tmp_path, keys, server_key, token_key, alg) -> None:
    v = verifier(tmp_path, keys[server_key])
    assert v.claims(sign(keys[token_key], alg, **ADMIN)) is None


def test_hs256_signed_with_the_public_key_is_refused(tmp_path, keys) -> None:
    """The classic algorithm confusion: a MAC keyed with the (public) PEM."""
    public_pem = _write_public(tmp_path, "pub", keys["rsa"]).read_bytes()
    v = verifier(tmp_path, keys["rsa"])
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    payload = jwt.utils.base64url_encode(b'{"exp":1800000600,"role":"admin"}')
    signature = hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest()
    token = (header + b"." + payload + b"." + jwt.utils.base64url_encode(signature)).decode()
    assert v.claims(token) is None


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"role": "admin"}, False),  # no exp: always required
        ({"exp": None, "role": "admin"}, False),
        ({"exp": float(NOW + 600), "role": "admin"}, False),  # u64 only
        ({"exp": str(NOW + 600), "role": "admin"}, False),
        ({"exp": -1, "role": "admin"}, False),
        ({"exp": NOW - 61, "role": "admin"}, False),  # past the 60 s leeway
        ({"exp": NOW - 60, "role": "admin"}, True),  # within it
        ({"exp": NOW + 600, "role": "admin", "aud": "resonate"}, False),  # string aud
        ({"exp": NOW + 600, "role": "admin", "aud": ["resonate"]}, True),
        ({"exp": NOW + 600, "role": "admin", "aud": ["a", 1]}, False),
        ({"exp": NOW + 600, "role": "admin", "iss": ["longhaul"]}, False),
        ({"exp": NOW + 600, "role": 7}, False),  # role must be a string
        ({"exp": NOW + 600, "role": "admin", "nbf": NOW + 3600, "iat": NOW + 3600}, True),
        ({"exp": NOW + 600, "role": "ADMIN"}, True),
        ({"exp": NOW + 600}, True),  # authenticates; authorization then forbids
    ],
)
def test_claims_without_iss_or_aud_configured(tmp_path, keys, claims, accepted) -> None:
    v = verifier(tmp_path, keys["p256"])
    assert (v.claims(sign(keys["p256"], "ES256", **claims)) is not None) is accepted


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"iss": "longhaul", "aud": ["resonate"]}, True),
        ({"iss": "longhaul", "aud": ["other", "resonate"]}, True),
        ({"iss": "longhaul", "aud": "resonate"}, False),  # the string aud the chart used to imply
        ({"iss": "longhaul"}, False),  # aud required once configured
        ({"aud": ["resonate"]}, False),  # iss required once configured
        ({"iss": "someone", "aud": ["resonate"]}, False),
        ({"iss": "longhaul", "aud": ["other"]}, False),
        ({"iss": "longhaul", "aud": []}, False),
    ],
)
def test_claims_with_iss_and_aud_configured(tmp_path, keys, claims, accepted) -> None:
    v = verifier(tmp_path, keys["ed25519"], issuer="longhaul", audience="resonate")
    token = sign(keys["ed25519"], "EdDSA", exp=NOW + 600, role="admin", **claims)
    assert (v.claims(token) is not None) is accepted


@pytest.mark.filterwarnings("ignore:The RSA key is 1024 bits")
def test_a_short_rsa_key_verifies_nothing(tmp_path) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    assert verifier(tmp_path, small).claims(sign(small, "RS256", **ADMIN)) is None


def test_a_key_the_server_cannot_load_fails_the_boot(tmp_path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(AuthConfigError, match="Unsupported or invalid public key"):
        JwtVerifier.from_pem_file(bad)
    with pytest.raises(AuthConfigError, match="Failed to read"):
        JwtVerifier.from_pem_file(tmp_path / "missing.pem")


# ── authorization: role and prefix, per request kind ────────────────────────


def check(v: JwtVerifier, key: Any, kind: str, data: dict[str, Any], **claims: Any) -> int | None:
    token = sign(key, "ES256", exp=NOW + 600, **claims)
    return v.check_envelope({"kind": kind, "head": {"auth": token}, "data": data})


def acme(kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data of ``kind`` on an acme. id, the same on a globex. id)."""
    shapes = {
        "promise.create": lambda i: {"id": i, "timeoutAt": 1, "param": {}},
        "promise.get": lambda i: {"id": i},
        "promise.settle": lambda i: {"id": i, "state": "resolved"},
        "promise.register_listener": lambda i: {"awaited": i, "address": "poll://any@gw"},
        "promise.register_callback": lambda i: {"awaited": i, "address": "poll://any@gw"},
        "task.acquire": lambda i: {"id": i, "version": 1, "pid": "p", "ttl": 1000},
        "task.fulfill": lambda i: {"id": i, "version": 1, "action": {}},
        "task.release": lambda i: {"id": i, "version": 1},
        "task.suspend": lambda i: {"id": i, "version": 1, "actions": []},
        "task.fence": lambda i: {"id": i, "version": 1, "action": {}},
        "task.create": lambda i: {"pid": "p", "ttl": 1, "action": {"data": {"id": i}}},
        "schedule.create": lambda i: {"id": "s", "promiseId": i},
    }
    return shapes[kind]("acme.job-1"), shapes[kind]("globex.job-1")


@pytest.mark.parametrize(
    "kind",
    [
        "promise.create",
        "promise.get",
        "promise.settle",
        "promise.register_listener",
        "promise.register_callback",
        "task.acquire",
        "task.fulfill",
        "task.release",
        "task.suspend",
        "task.fence",
        "task.create",
        "schedule.create",
    ],
)
def test_a_prefix_token_reaches_its_ids_only(tmp_path, keys, kind) -> None:
    v = verifier(tmp_path, keys["p256"])
    own, foreign = acme(kind)
    assert check(v, keys["p256"], kind, own, prefix="acme.") is None
    assert check(v, keys["p256"], kind, foreign, prefix="acme.") == 403
    assert check(v, keys["p256"], kind, foreign, role="admin") is None
    assert check(v, keys["p256"], kind, foreign, prefix="") is None  # the wildcard


def test_heartbeat_needs_every_task_under_the_prefix(tmp_path, keys) -> None:
    v = verifier(tmp_path, keys["p256"])
    mine = {"pid": "p", "tasks": [{"id": "acme.a", "version": 1}, {"id": "acme.b", "version": 2}]}
    mixed = {"pid": "p", "tasks": [{"id": "acme.a", "version": 1}, {"id": "x.b", "version": 2}]}
    assert check(v, keys["p256"], "task.heartbeat", mine, prefix="acme.") is None
    assert check(v, keys["p256"], "task.heartbeat", mixed, prefix="acme.") == 403
    assert check(v, keys["p256"], "task.heartbeat", {"pid": "p"}, prefix="acme.") is None


@pytest.mark.parametrize("kind", ["promise.search", "task.search", "schedule.search", "x.y"])
def test_a_prefix_token_may_not_search_nor_send_unknown_kinds(tmp_path, keys, kind) -> None:
    v = verifier(tmp_path, keys["p256"])
    assert check(v, keys["p256"], kind, {"id": "acme.*"}, prefix="acme.") == 403
    assert check(v, keys["p256"], kind, {"id": "acme.*"}, prefix="") is None
    assert check(v, keys["p256"], kind, {"id": "acme.*"}, role="admin") is None


@pytest.mark.parametrize(
    "claims", [{}, {"prefix": None}, {"prefix": 7}, {"prefix": ["acme."]}, {"role": "reader"}]
)
def test_no_admin_and_no_string_prefix_is_forbidden(tmp_path, keys, claims) -> None:
    v = verifier(tmp_path, keys["p256"])
    assert check(v, keys["p256"], "promise.get", {"id": "acme.1"}, **claims) == 403


def test_an_id_the_kind_does_not_carry_is_not_checked(tmp_path, keys) -> None:
    v = verifier(tmp_path, keys["p256"])
    assert check(v, keys["p256"], "promise.get", {}, prefix="acme.") is None
    assert check(v, keys["p256"], "promise.get", {"id": 5}, prefix="acme.") is None


# ── on the wire: head.auth on POST /, Bearer on /poll, probes open ──────────


@pytest.fixture
async def auth_server(tmp_path, keys):
    settings = DevServerSettings(
        auth_publickey=_write_public(tmp_path, "wire", keys["p256"]),
        auth_iss="longhaul",
        auth_aud="resonate",
    )
    server = TestServer(DevServer(settings).app())
    await server.start_server()
    yield server
    await server.close()


def wire_token(keys: dict[str, Any], **claims: Any) -> str:
    base = {"exp": int(time.time()) + 600, "iss": "longhaul", "aud": ["resonate"]}
    return sign(keys["p256"], "ES256", **{**base, **claims})


async def post(server: TestServer, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.make_url("/"), json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_post_reads_the_token_from_head_auth(auth_server, keys) -> None:
    token = wire_token(keys, role="admin")
    body = envelope("promise.get", id="acme.none")
    status, answer = await post(auth_server, body)
    assert status == 401 and answer["head"]["status"] == 401
    # A Bearer header is not what the real server reads on POST /.
    assert (await post(auth_server, body, Authorization=f"Bearer {token}"))[0] == 401
    body["head"]["auth"] = token
    assert (await post(auth_server, body))[0] == 404  # authenticated, then not found
    body["head"]["auth"] = wire_token(keys, prefix="globex.")
    status, answer = await post(auth_server, body)
    assert status == 403 and answer["head"]["status"] == 403
    body["head"]["auth"] = ""
    assert (await post(auth_server, body))[0] == 401


async def test_envelope_errors_come_before_auth(auth_server) -> None:
    body = envelope("promise.get", protocol="2025-01-01", id="x")
    assert (await post(auth_server, body))[0] == 400
    body = envelope("promise.get", id="x")
    body["data"] = []
    assert (await post(auth_server, body))[0] == 400


async def test_poll_reads_a_bearer_token_and_only_authenticates(auth_server, keys) -> None:
    url = auth_server.make_url("/poll/worker/w1")
    async with aiohttp.ClientSession() as session:
        for headers in (
            {},
            {"Authorization": wire_token(keys, role="admin")},  # no Bearer
            {"Authorization": f"bearer {wire_token(keys, role='admin')}"},
            {"Authorization": f"Bearer {wire_token(keys, role='admin', aud='resonate')}"},
            {"Authorization": f"Bearer {wire_token(keys, role='admin', exp=1)}"},
        ):
            async with session.get(url, headers=headers) as denied:
                assert denied.status == 401, headers
                assert await denied.text() == "Unauthorized"
        # A prefix token may open any group's stream: /poll checks no prefix.
        ok = {"Authorization": f"Bearer {wire_token(keys, prefix='acme.')}"}
        async with session.get(url, headers=ok) as stream:
            assert stream.status == 200


async def test_health_and_ready_need_no_token(auth_server) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/health", "/ready"):
            async with session.get(auth_server.make_url(path)) as response:
                assert response.status == 200, path


def test_iss_without_a_key_and_unsigned_mode_are_refused_at_boot(tmp_path) -> None:
    with pytest.raises(ValueError, match="PUBLICKEY"):
        DevServerSettings(auth_iss="longhaul")
    with pytest.raises(ValueError, match="unsigned mode"):
        DevServerSettings(auth_publickey=Path("none"))
