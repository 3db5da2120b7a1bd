"""``GET /v1/jobs``: one page of the caller's tenant's jobs, by status and kind.

One ``promise.search`` per page: the tags every job carries since the list
existed (``longhaul:tenant``, ``longhaul:type: job``, ``longhaul:kind``,
``job_store.py``) select the tenant's jobs by containment, and the status maps
to the one server state it stands for (the server compares states exactly,
so ``failed`` is ``rejected`` and nothing else: no filtering here, and a page
is ``limit`` jobs long unless it is the last). Order is by id, the server's.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from services.gateway.deps import Kinds, Reader, Store
from services.gateway.edge.errors import Problem
from services.gateway.edge.responses import JSONResponse
from services.gateway.jobs.job_store import (
    STATUS_BY_STATE,
    TAG_KIND,
    TAG_TENANT,
    TAG_TYPE,
    TYPE_JOB,
    JobStatus,
)
from services.gateway.jobs.list_cursor import (
    CURSOR_PATTERN,
    MAX_CURSOR_LENGTH,
    decode_cursor,
    encode_cursor,
)
from services.gateway.jobs.schemas import PROBLEM_RESPONSES, SECURITY, JobList, view_body

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

DEFAULT_LIMIT = 50
#: The real server refuses a search of more than 1000 (400).
MAX_LIMIT = 1000
STATE_BY_STATUS: dict[str, str] = {status: state for state, status in STATUS_BY_STATE.items()}


@router.get(
    "",
    response_model=JobList,
    responses={
        **{k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 422, 503)},
        501: PROBLEM_RESPONSES[503],
    },
    summary="List your jobs, by status and kind, in pages (ordered by id, not by time)",
    openapi_extra={"security": SECURITY},
)
async def list_jobs(
    request: Request,
    principal: Reader,
    store: Store,
    kinds: Kinds,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    kind: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only jobs of this kind.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Jobs per page (the last page may be shorter).")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            pattern=CURSOR_PATTERN,
            description="A next_cursor from the page before (opaque).",
        ),
    ] = None,
) -> JSONResponse:
    tags = {TAG_TENANT: principal.tenant, TAG_TYPE: TYPE_JOB}
    if kind is not None:
        if kinds.get(kind) is None:
            raise Problem(
                422,
                "unknown-kind",
                "Unknown job kind",
                f"Kind {kind!r} is not one of: {', '.join(sorted(kinds.catalogue.names))}.",
                errors=[
                    {"loc": ["query", "kind"], "msg": "unknown job kind", "type": "unknown_kind"}
                ],
            )
        tags[TAG_KIND] = kind
    after = decode_cursor(principal.tenant, cursor) if cursor is not None else None
    state = STATE_BY_STATUS[status] if status is not None else None
    page = await store.search(tags, state, limit, after)
    next_cursor = encode_cursor(page.cursor) if page.cursor is not None else None
    headers = {}
    if next_cursor is not None:
        query = {"status": status, "kind": kind, "limit": limit, "cursor": next_cursor}
        link = f"{request.url.path}?{urlencode({k: v for k, v in query.items() if v is not None})}"
        headers["Link"] = f'<{link}>; rel="next"'
    return JSONResponse(
        {"jobs": [view_body(job) for job in page.jobs], "next_cursor": next_cursor},
        headers=headers,
    )
