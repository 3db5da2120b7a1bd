"""The Resonate example's routes, kept so its clients work unchanged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from services.gateway.deps import Kinds, Metrics, Settings, Store
from services.gateway.json_body import JsonBodyRoute
from services.gateway.responses import JSONResponse
from services.gateway.schemas import (
    CLIENT_ID_PATTERN,
    PROBLEM_RESPONSES,
    BeginResponse,
    WaitResponse,
)
from services.gateway.submission import submit_job

router = APIRouter(tags=["compatibility"], route_class=JsonBodyRoute)
IdParam = Annotated[str, Query(pattern=CLIENT_ID_PATTERN, description="The promise id.")]


@router.post(
    "/begin",
    response_model=BeginResponse,
    responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (400, 413, 422, 503)},
    summary="Start the default kind under a client-chosen id (Resonate example API)",
)
async def begin(
    id: IdParam,
    data: Annotated[dict[str, Any], Body(description="Input of the default kind.")],
    store: Store,
    metrics: Metrics,
    settings: Settings,
    kinds: Kinds,
) -> JSONResponse:
    await submit_job(
        store,
        metrics,
        kinds,
        job_id=id,
        kind_name=settings.default_kind,
        raw_input=data,
        timeout_s=None,
    )
    return JSONResponse({"promise": id, "status": "pending", "wait": f"/wait?id={id}"})


@router.get(
    "/wait",
    response_model=WaitResponse,
    responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (404, 422, 503)},
    summary="Read a promise's state (Resonate example API)",
)
async def wait(id: IdParam, store: Store) -> JSONResponse:
    job = await store.get(id)
    body: dict[str, Any] = {"status": job.state, "promise_id": id}
    if job.status == "succeeded":
        body["result"] = job.result
    elif job.error is not None:
        body["error"] = job.error
    return JSONResponse(body)
