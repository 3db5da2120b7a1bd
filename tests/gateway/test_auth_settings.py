"""Authentication is on unless a setting turns it off, and bad auth config fails at boot."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.unit

SECRET = "s" * 32


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LONGHAUL_AUTH") or name == "LONGHAUL_ID_SECRET":
            monkeypatch.delenv(name)


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    path.write_text("k1 acme jobs:read sha256:" + "0" * 64 + "\n")
    return path


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "LONGHAUL_AUTH_MODE=none to run without authentication on purpose"),
        ({"LONGHAUL_AUTH_MODE": "none", "LONGHAUL_AUTH_API_KEYS_FILE": "{keys}"}, "remove them"),
        ({"LONGHAUL_AUTH_API_KEYS_FILE": "{keys}"}, "LONGHAUL_ID_SECRET is required"),
        (
            {"LONGHAUL_AUTH_API_KEYS_FILE": "{keys}", "LONGHAUL_ID_SECRET": "short"},
            "at least 32",
        ),
        (
            {"LONGHAUL_AUTH_API_KEYS_FILE": "/nonexistent/keys", "LONGHAUL_ID_SECRET": SECRET},
            "is not a readable file",
        ),
        (
            {"LONGHAUL_AUTH_OIDC_ISSUER": "https://idp/", "LONGHAUL_ID_SECRET": SECRET},
            "LONGHAUL_AUTH_OIDC_AUDIENCE",
        ),
        (
            {
                "LONGHAUL_AUTH_OIDC_ISSUER": "https://idp/",
                "LONGHAUL_AUTH_OIDC_AUDIENCE": "api",
                "LONGHAUL_ID_SECRET": SECRET,
            },
            "exactly one of LONGHAUL_AUTH_OIDC_JWKS_URL",
        ),
        ({"LONGHAUL_AUTH_MODE": "none", "LONGHAUL_AUTH_OIDC_ALGORITHMS": "HS256"}, "HS256"),
        ({"LONGHAUL_AUTH_MODE": "off"}, "auth_mode"),
    ],
)
def test_bad_auth_configuration_fails_at_boot(
    monkeypatch: pytest.MonkeyPatch, keys_file: Path, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(keys=keys_file))
    with pytest.raises(ValidationError, match=message):
        GatewaySettings()


def test_configured_auth_and_explicitly_off(
    monkeypatch: pytest.MonkeyPatch, keys_file: Path
) -> None:
    monkeypatch.setenv("LONGHAUL_AUTH_API_KEYS_FILE", str(keys_file))
    monkeypatch.setenv("LONGHAUL_ID_SECRET", SECRET)
    monkeypatch.setenv("LONGHAUL_AUTH_OIDC_ALGORITHMS", "RS256, ES256")
    on = GatewaySettings()
    assert (on.auth_mode, on.api_keys_on, on.oidc_on) == ("required", True, False)
    assert on.id_key == SECRET.encode() and SECRET not in repr(on)
    assert on.auth_oidc_algorithms == ("RS256", "ES256")
    for name in ("LONGHAUL_AUTH_API_KEYS_FILE", "LONGHAUL_ID_SECRET"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("LONGHAUL_AUTH_MODE", "none")
    assert GatewaySettings().auth_mode == "none"


def test_bad_credential_files_are_caught_before_the_workers_start(tmp_path: Path) -> None:
    from services.gateway.auth.verifier import check_auth_files

    keys = tmp_path / "keys"
    keys.write_text("not a key line\n")
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    settings = GatewaySettings(auth_api_keys_file=keys, id_secret=SECRET)
    with pytest.raises(ValueError, match=r"LONGHAUL_AUTH_API_KEYS_FILE=.*line 1"):
        check_auth_files(settings)
    keys.write_text("k1 acme jobs:read sha256:" + "0" * 64 + "\n")
    check_auth_files(settings)
    oidc = GatewaySettings(
        auth_oidc_issuer="https://idp/",
        auth_oidc_audience="api",
        auth_oidc_jwks_file=jwks,
        id_secret=SECRET,
    )
    with pytest.raises(ValueError, match="LONGHAUL_AUTH_OIDC_JWKS_FILE"):
        check_auth_files(oidc)
