"""Authenticate every request before its route runs (and before its body is read).

Deny by default: every path but the operational and documentation ones needs
a valid credential, so a route added later is never open by accident. The
caller lands in ``scope["state"]["principal"]``; routes check its scope
(``deps.Submitter`` and friends) and its tenant.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.auth.principal import AuthFailure
from services.gateway.auth.verifier import Authenticator
from services.gateway.edge.problems import problem_response

PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)


class Authenticate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        auth: Authenticator = scope["app"].state.auth
        authorization = None
        if not auth.disabled:
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                    break
        state = scope.setdefault("state", {})
        try:
            state["principal"] = await auth.authenticate(authorization)
        except AuthFailure as failure:
            response = problem_response(failure, scope["path"], state.get("request_id"))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
