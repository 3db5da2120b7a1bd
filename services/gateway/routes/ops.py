"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.gateway.deps import Metrics, Store
from services.gateway.jobs.schemas import PROBLEM_RESPONSES

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive (checks no dependency)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The Resonate server answers",
    responses={503: PROBLEM_RESPONSES[503]},
)
async def readyz(store: Store, request: Request) -> dict[str, object]:
    await store.ping()
    # The push stream is reported, never required: without it long-polls re-read.
    return {"status": "ready", "wait": request.app.state.waits.snapshot()}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(metrics: Metrics) -> Response:
    return Response(metrics.render(), media_type=metrics.content_type)
