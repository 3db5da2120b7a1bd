"""Who is calling: the tenant, the credential's id, the scopes; and the auth errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.gateway.edge.errors import Problem

SCOPE_SUBMIT = "jobs:submit"
SCOPE_READ = "jobs:read"
SCOPE_CANCEL = "jobs:cancel"
ALL_SCOPES = frozenset({SCOPE_SUBMIT, SCOPE_READ, SCOPE_CANCEL})

Method = Literal["api_key", "oidc", "none"]

#: Reasons a request is refused: the label of longhaul_gateway_auth_failures_total.
#: A closed set, so no client can grow the metric's cardinality.
FailureReason = Literal[
    "missing",  # no Authorization header
    "malformed",  # not "Bearer <credential>", or neither an API key nor a JWT
    "unknown_key",  # an API key whose id is not in the key file (never issued, or revoked)
    "bad_key",  # a known key id with the wrong secret
    "invalid_token",  # a JWT that fails verification (signature, alg, claims, unknown kid)
    "expired_token",
    "no_tenant",  # a valid JWT without a usable tenant claim
    "forbidden_scope",  # authenticated, but the credential lacks the route's scope
    "jwks_unavailable",  # the JWKS could not be fetched: not the client's fault (503)
]


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    #: The API key's id, or the token's ``sub``; never the credential itself.
    id: str
    scopes: frozenset[str]
    method: Method

    def audit_fields(self) -> dict[str, str]:
        fields = {"tenant": self.tenant, "auth": self.method}
        fields["key_id" if self.method == "api_key" else "subject"] = self.id
        return fields


class AuthFailure(Problem):
    """A 401 (no or bad credentials), 403 (missing scope) or 503 (JWKS unreachable)."""

    def __init__(self, reason: FailureReason, detail: str, *, realm: str = "longhaul") -> None:
        if reason == "forbidden_scope":
            status, slug, title = 403, "forbidden", "Forbidden"
            challenge = f'Bearer realm="{realm}", error="insufficient_scope"'
        elif reason == "jwks_unavailable":
            status, slug, title = 503, "auth-unavailable", "Authentication unavailable"
            challenge = None
        else:
            status, slug, title = 401, "unauthorized", "Unauthorized"
            # RFC 6750 section 3: no error code when no credentials were sent.
            challenge = (
                f'Bearer realm="{realm}"'
                if reason == "missing"
                else f'Bearer realm="{realm}", error="invalid_token"'
            )
        headers = {"WWW-Authenticate": challenge} if challenge else {"Retry-After": "5"}
        super().__init__(status, slug, title, detail, headers=headers)
        self.reason: FailureReason = reason
