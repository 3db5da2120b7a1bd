"""Annotated dependencies: routes get what they need from app.state, never globals.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in
its thread pool, one thread hop (and GIL hand-off) per dependency per request,
which cost more than the job store call itself on the status path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.gateway.job_store import JobStore
from services.gateway.kind_catalogue import GatewayKinds
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
