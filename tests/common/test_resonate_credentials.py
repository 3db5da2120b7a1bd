"""Tokens are renewed before they expire, and an expiring static token is never silent."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
import structlog

from services.common import resonate_token
from services.common.resonate_credentials import RETRY_S, ResonateCredentials
from services.common.settings import CommonSettings
from services.devserver.auth import JwtVerifier

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def minted(tmp_path: Path, clock: Clock, ttl_s: int = 900) -> ResonateCredentials:
    private, _ = resonate_token.write_key_pair(tmp_path, "ec")
    settings = CommonSettings(
        LONGHAUL_RESONATE_AUTH_PRIVATE_KEY=str(private),
        LONGHAUL_RESONATE_AUTH_TTL_S=ttl_s,
        RESONATE_AUTH__AUD="resonate",
    )
    return ResonateCredentials.from_settings(settings, subject="test", clock=clock)


def test_a_minted_token_is_renewed_at_half_life(tmp_path: Path) -> None:
    clock = Clock()
    creds = minted(tmp_path, clock)
    seen: list[tuple[str, float | None]] = []
    creds.on_change.append(lambda token, exp: seen.append((token, exp)))
    first = creds.token
    verifier = JwtVerifier.from_pem_file(tmp_path / "public.pem", audience="resonate", clock=clock)
    assert verifier.claims(first) is not None
    assert creds.step() == pytest.approx(450)
    clock.now += 449
    creds.step()
    assert creds.token == first and not seen
    clock.now += 1
    wait = creds.step()
    assert creds.token != first and creds.renewals == 1 and wait == pytest.approx(450)
    assert seen == [(creds.token, clock.now + 900)]
    assert verifier.claims(creds.token) is not None


def test_a_failed_renewal_is_retried_and_expiry_fails_readiness(tmp_path: Path) -> None:
    clock = Clock()
    creds = minted(tmp_path, clock, ttl_s=60)
    (tmp_path / "private.pem").write_text("rotated badly")
    clock.now += 30
    assert creds.step() == pytest.approx(RETRY_S)
    assert creds.failures == 1 and creds.not_ready_reason() is None
    clock.now += 30
    creds.step()
    assert "expired" in (creds.not_ready_reason() or "")
    resonate_token.write_key_pair(tmp_path, "ed25519")  # the Secret is fixed: renewal resumes
    clock.now += RETRY_S
    creds.step()
    assert creds.not_ready_reason() is None and creds.renewals == 1


def static(clock: Clock, exp_in_s: float, tmp_path: Path) -> ResonateCredentials:
    private, _ = resonate_token.write_key_pair(tmp_path, "ec")
    token = resonate_token.mint(
        resonate_token.load_private_key(private), ttl_s=exp_in_s, admin=True, now=clock.now
    )
    settings = CommonSettings(RESONATE_TOKEN=token)
    return ResonateCredentials.from_settings(settings, subject="test", clock=clock)


def test_a_static_token_warns_a_day_ahead_then_fails_readiness(tmp_path: Path) -> None:
    clock = Clock()
    creds = static(clock, 2 * 86400, tmp_path)
    assert creds.mode == "static" and creds.expires_at == int(clock.now) + 2 * 86400
    with structlog.testing.capture_logs() as logs:
        assert creds.step() == pytest.approx(3600)
        assert not logs  # two days left: quiet
        clock.now += 86400 + 1
        creds.step()
        assert logs[-1]["log_level"] == "error" and "expires soon" in logs[-1]["event"]
        creds.step()
        assert len(logs) == 1  # hourly, not at every pass
        clock.now += 3600
        creds.step()
        assert len(logs) == 2
    assert creds.not_ready_reason() is None
    clock.now += 86400
    assert "expired" in (creds.not_ready_reason() or "")


def fake_jwt(claims: dict) -> str:
    """A JWT shape with an ES256 header; the settings check never verifies the signature."""
    part = lambda obj: jwt.utils.base64url_encode(json.dumps(obj).encode()).decode()  # noqa: E731
    return f"{part({'alg': 'ES256'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("s3cret", "not a JWT"),
        (fake_jwt({"role": "admin"}), "no integer exp"),
        (fake_jwt({"exp": 1_900_000_000, "role": "admin", "aud": "resonate"}), "JSON list"),
        (fake_jwt({"exp": 1_900_000_000}), "neither role admin"),
    ],
)
def test_settings_refuse_a_static_token_the_server_would_refuse(token: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        CommonSettings(RESONATE_TOKEN=token)


def test_token_and_key_are_exclusive(tmp_path: Path) -> None:
    private, _ = resonate_token.write_key_pair(tmp_path, "ec")
    token = resonate_token.mint(resonate_token.load_private_key(private), ttl_s=60, admin=True)
    with pytest.raises(ValueError, match="not both"):
        CommonSettings(RESONATE_TOKEN=token, LONGHAUL_RESONATE_AUTH_PRIVATE_KEY=str(private))
