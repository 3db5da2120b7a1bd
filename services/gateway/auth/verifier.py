"""The gateway's one authenticator: a bearer credential in, a ``Principal`` out.

``Authorization: Bearer lh_<id>_<secret>`` is an API key, any other bearer
credential a JWT; either mechanism, or both, may be configured. With
``LONGHAUL_AUTH_MODE=none`` every request is the tenant ``default`` with every
scope. Each refusal is counted in ``longhaul_gateway_auth_failures_total``
by reason; the credential itself is never logged.
"""

from __future__ import annotations

from typing import get_args

import structlog
from jwt.exceptions import PyJWTError

from services.gateway.auth.keys import KeyRing, split_key
from services.gateway.auth.oidc import ClaimRules, FileJwks, OidcVerifier, UrlJwks
from services.gateway.auth.principal import ALL_SCOPES, AuthFailure, FailureReason, Principal
from services.gateway.auth.tenancy import DEFAULT_TENANT
from services.gateway.metrics import GatewayMetrics
from services.gateway.settings import GatewaySettings

log = structlog.get_logger("longhaul.gateway.auth")

ANONYMOUS = Principal(DEFAULT_TENANT, "anonymous", ALL_SCOPES, "none")
#: Seconds between refetches of a JWKS URL for tokens with an unknown kid: a
#: rotated key is picked up within this, made-up kids cost the provider at
#: most one fetch per interval and gateway process.
JWKS_MIN_REFETCH_S = 2.0


def check_auth_files(settings: GatewaySettings) -> None:
    """Parse the API key file and the JWKS file once; a ValueError names what is wrong."""
    import json

    from services.gateway.auth.keys import parse_key_file
    from services.gateway.auth.oidc import parse_jwks

    for name, path, parse in (
        ("LONGHAUL_AUTH_API_KEYS_FILE", settings.auth_api_keys_file, parse_key_file),
        (
            "LONGHAUL_AUTH_OIDC_JWKS_FILE",
            settings.auth_oidc_jwks_file,
            lambda text: parse_jwks(json.loads(text)),
        ),
    ):
        if path is None:
            continue
        try:
            parse(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError, PyJWTError) as exc:
            raise ValueError(f"{name}={path}: {exc}") from exc


class Authenticator:
    def __init__(
        self,
        *,
        metrics: GatewayMetrics,
        keys: KeyRing | None = None,
        oidc: OidcVerifier | None = None,
        disabled: bool = False,
    ) -> None:
        if not disabled and keys is None and oidc is None:
            raise ValueError("an Authenticator needs API keys or OIDC unless disabled")
        self.disabled = disabled
        self.keys = keys
        self.oidc = oidc
        self._failures = {
            reason: metrics.auth_failures.labels(reason) for reason in get_args(FailureReason)
        }

    @classmethod
    def from_settings(cls, settings: GatewaySettings, metrics: GatewayMetrics) -> Authenticator:
        if settings.auth_mode == "none":
            return cls(metrics=metrics, disabled=True)
        keys = None
        if settings.auth_api_keys_file is not None:
            keys = KeyRing(
                settings.auth_api_keys_file, reload_interval_s=settings.auth_reload_interval_s
            )
        oidc = None
        if settings.auth_oidc_issuer is not None:
            source: FileJwks | UrlJwks
            if settings.auth_oidc_jwks_file is not None:
                source = FileJwks(
                    settings.auth_oidc_jwks_file, reload_interval_s=settings.auth_reload_interval_s
                )
            else:
                source = UrlJwks(
                    str(settings.auth_oidc_jwks_url),
                    refresh_s=settings.auth_oidc_jwks_refresh_s,
                    min_refetch_s=JWKS_MIN_REFETCH_S,
                    timeout_s=settings.resonate_timeout_s,
                )
            rules = ClaimRules(
                issuer=settings.auth_oidc_issuer,
                audience=settings.auth_oidc_audience or "",
                tenant_claim=settings.auth_oidc_tenant_claim,
                scopes_claim=settings.auth_oidc_scopes_claim,
                algorithms=settings.auth_oidc_algorithms,
                leeway_s=settings.auth_oidc_leeway_s,
            )
            oidc = OidcVerifier(source, rules)
        return cls(metrics=metrics, keys=keys, oidc=oidc)

    @property
    def mechanisms(self) -> list[str]:
        return [name for name, on in (("api_keys", self.keys), ("oidc", self.oidc)) if on]

    async def start(self) -> None:
        if self.oidc is not None and isinstance(self.oidc.keys, UrlJwks):
            await self.oidc.keys.start()

    async def stop(self) -> None:
        if self.oidc is not None and isinstance(self.oidc.keys, UrlJwks):
            await self.oidc.keys.stop()

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller of a request with this Authorization header, or an AuthFailure."""
        if self.disabled:
            return ANONYMOUS
        try:
            return await self._authenticate(authorization)
        except AuthFailure as failure:
            self.count(failure)
            raise

    def count(self, failure: AuthFailure) -> None:
        self._failures[failure.reason].inc()

    def require(self, principal: Principal, scope: str) -> None:
        if scope not in principal.scopes:
            failure = AuthFailure("forbidden_scope", f"This credential lacks the scope {scope}.")
            self.count(failure)
            raise failure

    async def _authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthFailure("missing", "This route needs a bearer credential.")
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthFailure("malformed", "Send 'Authorization: Bearer <API key or token>'.")
        key_id = split_key(credential)
        if key_id is not None:
            if self.keys is None:
                raise AuthFailure("malformed", "API keys are not accepted here.")
            return self.keys.verify(credential, key_id)
        if self.oidc is None:
            raise AuthFailure("malformed", "The credential is not an API key.")
        return await self.oidc.verify(credential)
