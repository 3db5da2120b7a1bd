"""OIDC / JWT bearer tokens, verified by PyJWT against a JWKS (a URL or a file).

Nothing here does cryptography: PyJWT checks the signature (the key's
algorithm is bound to the key, and must be in the allow-list: never ``none``,
never HMAC, so a public key cannot be used as a shared secret), ``exp``,
``nbf``, ``iss`` and ``aud``; ``exp``, ``iss`` and ``aud`` must be present.

Keys:

* from a URL, fetched with PyJWT's ``PyJWKClient`` in a thread (it uses
  blocking urllib) and kept by ``kid``. A set older than ``refresh_s`` is
  refetched in the background while its keys keep serving; a token with an
  unknown ``kid`` (the provider rotated) refetches at once, at most every
  ``min_refetch_s`` (2 s) so that made-up kids cannot hammer the provider. When the
  provider cannot be reached the keys fetched before stay in force; with none
  at all the request is answered 503.
* from a file (a mounted ConfigMap or Secret), re-read when it changes like
  the API key file; a file that does not parse leaves the old keys in force.

A verified token is cached (by the token itself, in process memory, up to
``TOKEN_CACHE_SIZE`` tokens and ``TOKEN_CACHE_S`` seconds and never past its
``exp``), so a client polling with one token costs one signature check a minute.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import structlog
from jwt import PyJWK, PyJWKClient, PyJWKSet
from jwt.exceptions import ExpiredSignatureError, PyJWKClientError, PyJWKSetError, PyJWTError

from services.gateway.auth.principal import ALL_SCOPES, AuthFailure, Principal
from services.gateway.auth.reloading_file import ReloadingFile
from services.gateway.auth.tenancy import is_tenant

log = structlog.get_logger("longhaul.gateway.auth")

TOKEN_CACHE_SIZE = 10_000
TOKEN_CACHE_S = 60.0
#: Asymmetric algorithms only: a JWKS holds public keys.
SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def parse_jwks(data: Any) -> dict[str | None, PyJWK]:
    if not isinstance(data, dict):
        raise PyJWKSetError("a JWKS is a JSON object with a 'keys' list")
    keys = {}
    for key in PyJWKSet.from_dict(data).keys:
        if key.public_key_use in (None, "sig"):
            keys[key.key_id] = key
    if not keys:
        raise PyJWKSetError("the JWKS has no signing key")
    return keys


def _parse_jwks_text(text: str) -> dict[str | None, PyJWK]:
    return parse_jwks(json.loads(text))


class FileJwks:
    def __init__(
        self, path: Path, *, reload_interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self._file = ReloadingFile(
            path,
            _parse_jwks_text,
            errors=(ValueError, PyJWTError),
            what="JWKS file",
            reload_interval_s=reload_interval_s,
            clock=clock,
        )

    @property
    def generation(self) -> int:
        """Bumped by each reload: cached verifications of older keys are dropped."""
        return self._file.reloads

    async def key(self, kid: str | None) -> PyJWK | None:
        return _pick(self._file.current(), kid)


class UrlJwks:
    def __init__(
        self,
        url: str,
        *,
        refresh_s: float,
        min_refetch_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout_s)
        self._refresh_s = refresh_s
        self._min_refetch_s = min_refetch_s
        self._clock = clock
        self._keys: dict[str | None, PyJWK] = {}
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self.generation = 0

    async def _fetch(self, decided_at: float) -> None:
        async with self._lock:
            if self._attempted_at >= decided_at:
                return  # another request fetched while this one waited
            self._attempted_at = self._clock()
            try:
                data = await asyncio.to_thread(self._client.fetch_data)
                keys = parse_jwks(data)
            except (PyJWKClientError, PyJWTError, ValueError, OSError) as exc:
                log.warning("JWKS fetch failed", url=self.url, error=str(exc), keys=len(self._keys))
                return
            if set(keys) != set(self._keys):
                # Tokens verified with a key that is gone must be verified again.
                self.generation += 1
                log.info("JWKS fetched", url=self.url, kids=sorted(str(k) for k in keys))
            self._keys, self._fetched_at = keys, self._clock()

    async def start(self) -> None:
        """Fetch once at start-up; a provider that is down then is not fatal."""
        await self._fetch(self._clock())

    async def stop(self) -> None:
        if self._background is not None:
            self._background.cancel()

    async def key(self, kid: str | None) -> PyJWK | None:
        now = self._clock()
        if not self._keys:
            if now - self._attempted_at >= self._min_refetch_s:
                await self._fetch(now)
            if not self._keys:
                raise AuthFailure("jwks_unavailable", "The token's signing keys cannot be fetched.")
        found = _pick(self._keys, kid)
        if found is None:
            if now - self._attempted_at >= self._min_refetch_s:
                await self._fetch(now)  # a rotation: the provider publishes the new key first
                found = _pick(self._keys, kid)
        elif now - self._fetched_at >= self._refresh_s and (
            self._background is None or self._background.done()
        ):
            self._background = asyncio.get_running_loop().create_task(self._fetch(now))
        return found


def _pick(keys: dict[str | None, PyJWK], kid: str | None) -> PyJWK | None:
    if kid is None:
        # No kid in the token: only unambiguous with a single key.
        return next(iter(keys.values())) if len(keys) == 1 else None
    return keys.get(kid)


@dataclass(frozen=True)
class ClaimRules:
    issuer: str
    audience: str
    tenant_claim: str
    scopes_claim: str
    algorithms: tuple[str, ...]
    leeway_s: float


def _claim(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def principal_from_claims(payload: dict[str, Any], rules: ClaimRules) -> Principal:
    tenant = _claim(payload, rules.tenant_claim)
    if not is_tenant(tenant):
        raise AuthFailure(
            "no_tenant", f"The token has no valid tenant in its {rules.tenant_claim!r} claim."
        )
    raw = _claim(payload, rules.scopes_claim)
    if isinstance(raw, str):
        granted = raw.split()
    elif isinstance(raw, list):
        granted = [s for s in raw if isinstance(s, str)]
    else:
        granted = []
    subject = payload.get("sub")
    return Principal(
        tenant,
        subject if isinstance(subject, str) else "unknown",
        frozenset(granted) & ALL_SCOPES,
        "oidc",
    )


class OidcVerifier:
    def __init__(
        self,
        keys: FileJwks | UrlJwks,
        rules: ClaimRules,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.rules = rules
        self._now = wall_clock
        self._cache: dict[str, tuple[Principal, float, int]] = {}

    async def verify(self, token: str) -> Principal:
        now = self._now()
        cached = self._cache.get(token)
        if cached is not None:
            principal, valid_until, generation = cached
            if now < valid_until and generation == self.keys.generation:
                return principal
            del self._cache[token]
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError as exc:
            raise AuthFailure("invalid_token", "The bearer token is not a valid JWT.") from exc
        kid = header.get("kid")
        key = await self.keys.key(kid if isinstance(kid, str) else None)
        if key is None:
            raise AuthFailure("invalid_token", "The token's signing key is unknown.")
        rules = self.rules
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=list(rules.algorithms),
                audience=rules.audience,
                issuer=rules.issuer,
                leeway=rules.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except ExpiredSignatureError as exc:
            raise AuthFailure("expired_token", "The token has expired.") from exc
        except PyJWTError as exc:
            raise AuthFailure("invalid_token", f"The token is not valid: {exc}.") from exc
        principal = principal_from_claims(payload, rules)
        if len(self._cache) >= TOKEN_CACHE_SIZE:
            self._cache.clear()
        valid_until = min(now + TOKEN_CACHE_S, float(payload["exp"]) + rules.leeway_s)
        self._cache[token] = (principal, valid_until, self.keys.generation)
        return principal
