"""Minted tokens are ones the v0.9.8 rules accept; the command prints such a token."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from services.common import resonate_token
from services.common.resonate_token import TokenError, main, mint, write_key_pair
from services.devserver.auth import JwtVerifier

pytestmark = pytest.mark.unit


@pytest.fixture(params=["ec", "rsa", "ed25519"])
def pair(request, tmp_path: Path) -> tuple[Path, Path]:
    return write_key_pair(tmp_path / request.param, request.param)


def test_minted_tokens_pass_the_servers_rules(pair) -> None:
    private, public = pair
    verifier = JwtVerifier.from_pem_file(public, issuer="longhaul", audience="resonate")
    key = resonate_token.load_private_key(private)
    token = mint(key, ttl_s=900, admin=True, issuer="longhaul", audience="resonate")
    claims = verifier.claims(token)
    assert claims is not None and claims["aud"] == ["resonate"] and claims["role"] == "admin"
    assert claims["exp"] - claims["iat"] == 900
    assert verifier.check_envelope({"kind": "promise.search", "head": {"auth": token}}) is None
    tenant = mint(key, ttl_s=60, prefix="acme.", issuer="longhaul", audience="resonate")
    own = {"kind": "promise.get", "head": {"auth": tenant}, "data": {"id": "acme.job-1"}}
    other = {"kind": "promise.get", "head": {"auth": tenant}, "data": {"id": "globex.job-1"}}
    assert verifier.check_envelope(own) is None and verifier.check_envelope(other) == 403
    assert oct(private.stat().st_mode & 0o777) == "0o600"


def test_a_token_must_grant_something_and_keys_must_be_usable(tmp_path: Path) -> None:
    private, _ = write_key_pair(tmp_path, "ec")
    key = resonate_token.load_private_key(private)
    with pytest.raises(TokenError, match="admin or a prefix"):
        mint(key, ttl_s=60)
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(TokenError, match="not an unencrypted PEM private key"):
        resonate_token.load_private_key(tmp_path / "junk.pem")


def test_inspect_names_what_the_server_refuses() -> None:
    def unsigned(claims: dict) -> str:
        return jwt.api_jws.encode(json.dumps(claims).encode(), "k" * 32, algorithm="HS256")

    problems = resonate_token.inspect(unsigned({"aud": "resonate"})).problems()
    assert any("exp" in p for p in problems)
    assert any("aud is not a JSON list" in p for p in problems)
    assert any("neither role admin" in p for p in problems)
    assert any("alg HS256" in p for p in problems)
    with pytest.raises(TokenError):
        resonate_token.inspect("s3cret")


def test_the_mint_command_prints_a_token_the_server_accepts(pair, capsys) -> None:
    private, public = pair
    argv = ["mint", "--key", str(private), "--ttl", "2h", "--admin", "--aud", "resonate"]
    assert main(argv) == 0
    token = capsys.readouterr().out.strip()
    claims = JwtVerifier.from_pem_file(public, audience="resonate").claims(token)
    assert claims is not None and 7190 <= claims["exp"] - time.time() <= 7200
    assert main(["inspect", token]) == 0
    assert json.loads(capsys.readouterr().out)["problems"] == []
    assert main(["mint", "--key", str(private), "--ttl", "1h"]) == 2  # neither admin nor prefix
    assert "admin or a prefix" in capsys.readouterr().err


def test_keygen_and_durations(tmp_path: Path, capsys) -> None:
    assert main(["keygen", "--out", str(tmp_path / "k"), "--type", "ed25519"]) == 0
    assert (tmp_path / "k" / "public.pem").read_text().startswith("-----BEGIN PUBLIC KEY")
    assert [resonate_token.parse_duration(t) for t in ("90", "15m", "1h", "30d")] == [
        90,
        900,
        3600,
        2_592_000,
    ]
