"""The v1 job API: submit, read (optionally long-polling), cancel."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from starlette.datastructures import State

from services.gateway.auth.audit import audit
from services.gateway.auth.principal import SCOPE_READ
from services.gateway.auth.tenancy import job_id_for_key, new_job_id, owns
from services.gateway.deps import (
    Canceller,
    Kinds,
    Metrics,
    Settings,
    Store,
    Submitter,
    principal_of,
)
from services.gateway.edge.direct_route import DirectRoute
from services.gateway.edge.errors import JobNotFound, Problem
from services.gateway.edge.json_body import JsonBodyRoute
from services.gateway.edge.responses import JSONResponse
from services.gateway.jobs.finished_views import CACHE_PENDING, FinishedViews
from services.gateway.jobs.ids import JOB_ID_DESCRIPTION, JOB_ID_PATTERN, JOB_ID_SEGMENT
from services.gateway.jobs.job_store import Job, JobStore
from services.gateway.jobs.read_params import (
    NOT_MODIFIED_RESPONSE,
    READ_JOB_PARAMETERS,
    wait_seconds,
)
from services.gateway.jobs.schemas import (
    IDEMPOTENCY_KEY_PATTERN,
    PROBLEM_RESPONSES,
    SECURITY,
    JobAccepted,
    JobRequest,
    JobView,
    accepted_body,
    job_path,
    view_body,
)
from services.gateway.jobs.submission import submit_job
from services.gateway.settings import GatewaySettings
from services.gateway.waiting.long_polls import JobWaits, read_backoff, until_disconnected

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=JsonBodyRoute)


@router.post(
    "",
    status_code=202,
    response_model=JobAccepted,
    responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (400, 401, 403, 413, 422, 503)},
    summary="Submit a job",
    openapi_extra={"security": SECURITY},
)
async def create_job(
    principal: Submitter,
    body: JobRequest,
    store: Store,
    metrics: Metrics,
    settings: Settings,
    kinds: Kinds,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description=(
                "Same key and same request: the same job, executed once. The key is remembered "
                "as long as its job is: until the job has been finished for the retention period "
                "(LONGHAUL_RETENTION, 7 days by default; docs/retention.md). A retry after that "
                "creates a new job."
            ),
        ),
    ] = None,
) -> JSONResponse:
    tenant = principal.tenant
    job_id = (
        job_id_for_key(settings.id_key, tenant, idempotency_key)
        if idempotency_key
        else new_job_id(tenant)
    )
    try:
        submission = await submit_job(
            store,
            metrics,
            kinds,
            job_id=job_id,
            kind_name=body.kind,
            raw_input=body.input,
            timeout_s=body.timeout_s,
            notify_url=body.notify.url if body.notify else None,
            tenant=tenant,
            webhook_policy=settings.webhook_policy,
        )
    except Problem as refused:
        audit(principal, "job.submit", job_id, refused.slug, kind=body.kind)
        raise
    audit(
        principal,
        "job.submit",
        job_id,
        "created" if submission.created else "replayed",
        kind=body.kind,
    )
    headers = {"Location": job_path(job_id), "Retry-After": str(settings.retry_after_s)}
    if not submission.created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(accepted_body(submission.job), status_code=202, headers=headers)


async def read_job(request: Request) -> Response:
    # Clients poll this route more than all others together. It reads its two
    # parameters from the request and is served as a DirectRoute: FastAPI's
    # resolution of each declared parameter cost ~20 us a request here, more
    # than the route's own work (bench/results/report.md).
    state = request.app.state
    settings: GatewaySettings = state.settings
    job_id: str = request.path_params["job_id"]
    principal = principal_of(request, SCOPE_READ)
    wait = wait_seconds(request.scope["query_string"], settings.max_wait_s)
    if not owns(principal.tenant, job_id):
        raise JobNotFound(job_id)  # another tenant's job is an unknown id
    # After the tenant check: ids carry their tenant, so a cached view is its tenant's.
    finished: FinishedViews = state.finished
    if_none_match = _if_none_match(request.scope["headers"])
    view = finished.get(job_id)
    if view is not None:
        state.metrics.finished_hit.inc()
        return view.response(if_none_match)
    state.metrics.finished_miss.inc()
    job = await _read(state, job_id, wait, request)
    if job.final:
        return finished.view_of(job).response(if_none_match)
    if if_none_match is not None and if_none_match.strip() == b"*":  # any current view
        return Response(status_code=304, headers=_PENDING_HEADERS)
    return JSONResponse(
        view_body(job),
        headers={"Retry-After": str(settings.retry_after_s), **_PENDING_HEADERS},
    )


#: A pending job's view changes any moment: no validator, and nobody may store it.
_PENDING_HEADERS = {"Cache-Control": CACHE_PENDING.decode()}


def _if_none_match(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"if-none-match":
            return value
    return None


async def _read(state: State, job_id: str, wait: float, request: Request) -> Job:
    store: JobStore = state.store
    if wait <= 0:
        return await store.get(job_id)
    waits: JobWaits = state.waits
    if not waits.push:  # LONGHAUL_WAIT_PUSH=false: re-read on a backoff, as before push
        return await read_backoff(store, job_id, wait, request.is_disconnected)
    gone = asyncio.ensure_future(until_disconnected(request.receive))
    try:
        return await waits.wait(job_id, wait, gone)
    finally:
        gone.cancel()


router.add_api_route(
    JOB_ID_SEGMENT,
    read_job,
    methods=["GET"],
    route_class_override=DirectRoute,
    response_model=JobView,
    responses={
        304: NOT_MODIFIED_RESPONSE,
        **{k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 404, 422, 503)},
    },
    summary="Read a job; ?wait=S long-polls until it completes or S seconds pass",
    description=(
        "A finished job is kept for the retention period (LONGHAUL_RETENTION, 7 days by "
        "default, per tenant configurable; docs/retention.md), then deleted with everything it "
        "left: after that this answers 404, as for an id that never existed."
    ),
    openapi_extra={"parameters": READ_JOB_PARAMETERS, "security": SECURITY},
)


@router.delete(
    JOB_ID_SEGMENT,
    response_model=JobView,
    responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 404, 409, 503)},
    summary="Cancel a pending job",
    openapi_extra={"security": SECURITY},
)
async def cancel_job(
    job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, description=JOB_ID_DESCRIPTION)],
    store: Store,
    principal: Canceller,
) -> Response:
    if not owns(principal.tenant, job_id):
        audit(principal, "job.cancel", job_id, "job-not-found")
        raise JobNotFound(job_id)  # another tenant's job is an unknown id
    try:
        job = await store.cancel(job_id)
    except Problem as refused:
        audit(principal, "job.cancel", job_id, refused.slug)
        raise
    audit(principal, "job.cancel", job_id, "canceled" if job.status == "canceled" else job.status)
    if job.status != "canceled":
        raise Problem(
            409,
            "job-already-completed",
            "Job already completed",
            f"Job {job_id!r} already completed with status {job.status!r}.",
            job=view_body(job),
        )
    return JSONResponse(view_body(job))
