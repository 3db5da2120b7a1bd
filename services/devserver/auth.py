"""JWT checks of the real Resonate server v0.9.8 (``src/auth.rs``), for the dev server.

Given ``RESONATE_AUTH__PUBLICKEY`` (a PEM public key file), every ``POST /``
envelope must carry a JWT in ``head.auth`` and every ``GET /poll/...`` an
``Authorization: Bearer <jwt>`` header; ``/health`` and ``/ready`` need none.
The rules, as the real server applies them (jsonwebtoken 9 + serde):

- the header's ``alg`` must belong to the key's family: RSA keys RS256/384/512
  and PS256/384/512, EC keys ES256 (P-256) or ES384 (P-384), Ed25519 EdDSA;
  the signature must verify (ring: RSA moduli of 2048-8192 bits only);
- ``exp`` is always required, an unsigned integer, and the token is refused once
  ``exp < now - 60`` (jsonwebtoken's default leeway); ``nbf`` and ``iat`` are
  not checked;
- ``iss``, when present, must be a string and ``aud`` a JSON list of strings (a
  string ``aud`` fails to deserialize, configured or not); once
  ``RESONATE_AUTH__ISS`` / ``RESONATE_AUTH__AUD`` are set the claim is required
  and must match (``aud`` must contain the configured audience);
- ``role``, when present, must be a string; any failure so far is 401;
- authorization (``POST /`` only; ``/poll`` only authenticates): ``role``
  ``admin`` (any case) allows everything; otherwise ``prefix`` must be a
  string, else 403; ``""`` allows everything; a non-empty prefix must start
  the request's resource id (per kind, ``resource_id``), every task id of a
  ``task.heartbeat``, and denies every search and every unknown kind.

PyJWT (with ``cryptography``) verifies signatures; the claim rules above are
written out here so that they follow the real server, not PyJWT's defaults.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

#: jsonwebtoken's default ``Validation::leeway`` (seconds), which the real server keeps.
DEFAULT_LEEWAY_S = 60
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
#: ring verifies ES256 with P-256 keys and ES384 with P-384 keys, nothing else.
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384"}
#: ring's RSA verification accepts moduli in this range only.
RSA_BITS = (2048, 8192)
MAX_U64 = 2**64 - 1

#: Kinds whose resource id is ``data.id`` (src/auth.rs ``extract_resource_id``).
ID_KINDS = frozenset(
    {
        "promise.get",
        "promise.create",
        "promise.settle",
        "task.get",
        "task.acquire",
        "task.release",
        "task.fulfill",
        "task.suspend",
        "task.fence",
        "task.halt",
        "task.continue",
        "schedule.get",
        "schedule.delete",
    }
)
AWAITED_KINDS = frozenset({"promise.register_callback", "promise.register_listener"})
SEARCH_KINDS = frozenset({"promise.search", "task.search", "schedule.search"})

UNAUTHORIZED, FORBIDDEN = 401, 403


class AuthConfigError(ValueError):
    """The key cannot be used: the real server refuses to start with it."""


@dataclass(frozen=True)
class JwtVerifier:
    """Verifies tokens against one public key, by the real server's rules."""

    key: Any
    algorithms: frozenset[str]
    issuer: str | None = None
    audience: str | None = None
    leeway_s: int = DEFAULT_LEEWAY_S
    clock: Callable[[], float] = time.time

    @classmethod
    def from_pem_file(
        cls,
        path: Path,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_s: int = DEFAULT_LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ) -> JwtVerifier:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise AuthConfigError(f"Failed to read public key file '{path}': {exc}") from exc
        try:
            key = load_pem_public_key(pem)
        except ValueError as exc:
            raise AuthConfigError(
                f"Unsupported or invalid public key in '{path}'. "
                "Supported types: RSA, EC (P-256/P-384), Ed25519."
            ) from exc
        return cls(key, accepted_algorithms(key, path), issuer, audience, leeway_s, clock)

    def claims(self, token: str | None) -> dict[str, Any] | None:
        """The token's claims when it authenticates, else None (the server's 401)."""
        if not token:
            return None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        alg = header.get("alg")
        if alg not in self.algorithms:
            return None
        if alg in RSA_ALGORITHMS and not RSA_BITS[0] <= self.key.key_size <= RSA_BITS[1]:
            return None
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[alg],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                    "require": [],
                },
            )
        except jwt.PyJWTError:
            return None
        return claims if self._claims_valid(claims) else None

    def _claims_valid(self, claims: dict[str, Any]) -> bool:
        exp = claims.get("exp")
        # serde: u64, so no float, no string, no negative; null counts as absent.
        if type(exp) is not int or not 0 <= exp <= MAX_U64:
            return False
        if exp < int(self.clock()) - self.leeway_s:
            return False
        iss = claims.get("iss")
        if iss is not None and not isinstance(iss, str):
            return False
        if self.issuer is not None and iss != self.issuer:
            return False
        aud = claims.get("aud")
        if aud is not None and not (isinstance(aud, list) and all(isinstance(a, str) for a in aud)):
            return False  # Claims.aud is Option<Vec<String>>: a string aud fails to decode
        if self.audience is not None and (aud is None or self.audience not in aud):
            return False
        role = claims.get("role")
        return role is None or isinstance(role, str)

    def check_envelope(self, envelope: dict[str, Any]) -> int | None:
        """None when the request may proceed, else 401 or 403 (``auth_check``)."""
        head = envelope.get("head")
        token = head.get("auth") if isinstance(head, dict) else None
        claims = self.claims(token if isinstance(token, str) else None)
        if claims is None:
            return UNAUTHORIZED
        return authorize(claims, str(envelope.get("kind")), envelope.get("data"))

    def check_bearer(self, authorization: str | None) -> int | None:
        """``/poll``: authentication only (``auth_check_token``)."""
        token = None
        if authorization is not None and authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ")
        return None if self.claims(token) is not None else UNAUTHORIZED


def accepted_algorithms(key: Any, path: Path) -> frozenset[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        # Any curve loads (DecodingKey::from_ec_pem); only these two ever verify.
        alg = EC_ALGORITHMS.get(key.curve.name)
        return frozenset({alg} if alg else ())
    if isinstance(key, ed25519.Ed25519PublicKey):
        return frozenset({"EdDSA"})
    raise AuthConfigError(
        f"Unsupported or invalid public key in '{path}'. "
        "Supported types: RSA, EC (P-256/P-384), Ed25519."
    )


def authorize(claims: dict[str, Any], kind: str, data: Any) -> int | None:
    role = claims.get("role")
    if isinstance(role, str) and role.lower() == "admin":
        return None
    prefix = claims.get("prefix")
    if not isinstance(prefix, str):
        return FORBIDDEN  # absent, null or not a string
    if prefix == "":
        return None  # the wildcard
    data = data if isinstance(data, dict) else {}
    if kind == "task.heartbeat":
        tasks = data.get("tasks")
        for task in tasks if isinstance(tasks, list) else ():
            task_id = task.get("id") if isinstance(task, dict) else None
            if isinstance(task_id, str) and not task_id.startswith(prefix):
                return FORBIDDEN
        return None
    resource = resource_id(kind, data)
    if resource is None or resource.startswith(prefix):
        return None
    return FORBIDDEN


def resource_id(kind: str, data: dict[str, Any]) -> str | None:
    """The id a prefix must start; None: nothing to check; "" for searches and unknown kinds."""

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) else None

    if kind in SEARCH_KINDS:
        return ""
    if kind in ID_KINDS:
        return text(data.get("id"))
    if kind in AWAITED_KINDS:
        return text(data.get("awaited"))
    if kind == "schedule.create":
        return text(data.get("promiseId"))
    if kind == "task.create":
        action = data.get("action")
        inner = action.get("data") if isinstance(action, dict) else None
        return text(inner.get("id")) if isinstance(inner, dict) else None
    return ""  # unknown kinds fail closed for prefix tokens
