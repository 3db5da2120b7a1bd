"""Annotated dependencies: routes get what they need from app.state, never globals.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in
its thread pool, one thread hop (and GIL hand-off) per dependency per request,
which cost more than the job store call itself on the status path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.gateway.auth.principal import (
    SCOPE_CANCEL,
    SCOPE_READ,
    SCOPE_SUBMIT,
    AuthFailure,
    Principal,
)
from services.gateway.jobs.job_store import JobStore
from services.gateway.jobs.kind_catalogue import GatewayKinds
from services.gateway.metrics import GatewayMetrics
from services.gateway.settings import GatewaySettings


async def _store(request: Request) -> JobStore:
    return request.app.state.store


async def _settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


async def _metrics(request: Request) -> GatewayMetrics:
    return request.app.state.metrics


async def _kinds(request: Request) -> GatewayKinds:
    return request.app.state.kinds


Store = Annotated[JobStore, Depends(_store)]
Settings = Annotated[GatewaySettings, Depends(_settings)]
Metrics = Annotated[GatewayMetrics, Depends(_metrics)]
Kinds = Annotated[GatewayKinds, Depends(_kinds)]


def principal_of(request: Request, scope: str) -> Principal:
    """The caller the Authenticate middleware found, if it holds ``scope``."""
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:  # the middleware always sets it; never serve a route without
        raise AuthFailure("missing", "This route needs a bearer credential.")
    request.app.state.auth.require(principal, scope)
    return principal


async def _submitter(request: Request) -> Principal:
    return principal_of(request, SCOPE_SUBMIT)


async def _reader(request: Request) -> Principal:
    return principal_of(request, SCOPE_READ)


async def _canceller(request: Request) -> Principal:
    return principal_of(request, SCOPE_CANCEL)


Submitter = Annotated[Principal, Depends(_submitter)]
Reader = Annotated[Principal, Depends(_reader)]
Canceller = Annotated[Principal, Depends(_canceller)]
