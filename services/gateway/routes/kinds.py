"""The catalogue over HTTP: every job kind with its input (and output) JSON Schema."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.deps import Kinds
from services.gateway.edge.errors import Problem
from services.gateway.edge.responses import JSONResponse
from services.gateway.jobs.schemas import PROBLEM_RESPONSES, KindList, KindView

router = APIRouter(prefix="/v1/kinds", tags=["kinds"])


@router.get(
    "",
    response_model=KindList,
    # Any valid credential may read the catalogue; none (when auth is on) is 401.
    responses={401: PROBLEM_RESPONSES[401], 503: PROBLEM_RESPONSES[503]},
    summary="List the job kinds this gateway accepts",
)
async def list_kinds(kinds: Kinds) -> JSONResponse:
    # Rendered as built: a kind without an output model has no output_schema key.
    return JSONResponse({"kinds": [await kinds.view(kind) for kind in kinds.catalogue]})


@router.get(
    "/{name}",
    response_model=KindView,
    responses={k: PROBLEM_RESPONSES[k] for k in (401, 404, 503)},
    summary="Describe one job kind",
)
async def get_kind(name: str, kinds: Kinds) -> JSONResponse:
    kind = kinds.get(name)
    if kind is None:
        raise Problem(404, "kind-not-found", "Job kind not found", f"No job kind {name!r}.")
    return JSONResponse(await kinds.view(kind))
