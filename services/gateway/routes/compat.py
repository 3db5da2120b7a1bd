"""The Resonate example's routes, kept so its clients work unchanged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from services.gateway.auth.audit import audit
from services.gateway.auth.tenancy import compat_promise_id
from services.gateway.deps import Kinds, Metrics, Reader, Settings, Store, Submitter
from services.gateway.edge.errors import Problem
from services.gateway.edge.json_body import JsonBodyRoute
from services.gateway.edge.responses import JSONResponse
from services.gateway.jobs.schemas import (
    CLIENT_ID_PATTERN,
    PROBLEM_RESPONSES,
    SECURITY,
    BeginResponse,
    WaitResponse,
)
from services.gateway.jobs.submission import submit_job

router = APIRouter(tags=["compatibility"], route_class=JsonBodyRoute)
IdParam = Annotated[
    str,
    Query(
        pattern=CLIENT_ID_PATTERN,
        description="The client's promise id; the promise is <tenant>.<id> (per tenant).",
    ),
]


@router.post(
    "/begin",
    response_model=BeginResponse,
    responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (400, 401, 403, 413, 422, 503)},
    summary="Start the default kind under a client-chosen id (Resonate example API)",
    openapi_extra={"security": SECURITY},
)
async def begin(
    principal: Submitter,
    id: IdParam,
    data: Annotated[dict[str, Any], Body(description="Input of the default kind.")],
    store: Store,
    metrics: Metrics,
    settings: Settings,
    kinds: Kinds,
) -> JSONResponse:
    job_id = compat_promise_id(principal.tenant, id)
    kind = settings.default_kind
    try:
        submission = await submit_job(
            store,
            metrics,
            kinds,
            job_id=job_id,
            kind_name=kind,
            raw_input=data,
            timeout_s=None,
        )
    except Problem as refused:
        audit(principal, "job.submit", job_id, refused.slug, kind=kind, route="/begin")
        raise
    outcome = "created" if submission.created else "replayed"
    audit(principal, "job.submit", job_id, outcome, kind=kind, route="/begin")
    return JSONResponse({"promise": id, "status": "pending", "wait": f"/wait?id={id}"})


@router.get(
    "/wait",
    response_model=WaitResponse,
    responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 404, 422, 503)},
    summary="Read a promise's state (Resonate example API)",
    openapi_extra={"security": SECURITY},
)
async def wait(principal: Reader, id: IdParam, store: Store) -> JSONResponse:
    job = await store.get(compat_promise_id(principal.tenant, id))
    body: dict[str, Any] = {"status": job.state, "promise_id": id}
    if job.status == "succeeded":
        body["result"] = job.result
    elif job.error is not None:
        body["error"] = job.error
    return JSONResponse(body)
