"""The OpenAPI document declares the security schemes that are configured.

Every operation outside ``PUBLIC_PATHS`` needs a credential (the middleware
denies by default), so each one gets the security requirement, also routes
that do not declare it themselves (``/v1/kinds``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.gateway.auth.middleware import PUBLIC_PATHS
from services.gateway.jobs.schemas import SECURITY
from services.gateway.settings import GatewaySettings

SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "lh_<key id>_<secret>",
        "description": "An API key from the gateway's key file: "
        "`Authorization: Bearer lh_<key id>_<secret>`. Scopes: jobs:submit, jobs:read, "
        "jobs:cancel; the key's tenant owns the jobs it submits.",
    },
    "OIDC": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An OIDC access token (JWT) from the configured issuer, with the "
        "configured audience; its tenant and scope claims decide what it may do.",
    },
}


def install_openapi_security(app: FastAPI, settings: GatewaySettings) -> None:
    enabled = set()
    if settings.auth_mode != "none":
        if settings.api_keys_on:
            enabled.add("ApiKey")
        if settings.oidc_on:
            enabled.add("OIDC")
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for route, path in schema.get("paths", {}).items():
                for operation in path.values():
                    if not isinstance(operation, dict):
                        continue
                    if route in PUBLIC_PATHS:
                        operation.pop("security", None)
                        continue
                    # Deny by default (auth.middleware): every other route needs a credential.
                    operation.setdefault("security", SECURITY)
                    kept = [r for r in operation["security"] if set(r) <= enabled]
                    if kept:
                        operation["security"] = kept
                    else:
                        del operation["security"]
            if enabled:
                components = schema.setdefault("components", {})
                components["securitySchemes"] = {n: SCHEMES[n] for n in sorted(enabled)}
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
