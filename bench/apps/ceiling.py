"""The ceiling: bare FastAPI routes returning constants, nothing else.

Same paths and status codes as the gateway's submit and status routes, no
middleware, no validation, no I/O. Its request rate is what this gunicorn +
uvicorn configuration can answer at all on this machine.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

_ACCEPTED = {
    "id": "job-0",
    "kind": "echo",
    "status": "pending",
    "links": {"self": "/v1/jobs/job-0"},
}
_VIEW = {"id": "job-0", "kind": "echo", "status": "succeeded", "result": {"n": 1}}


def create_app(_settings: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/jobs")
    async def submit() -> JSONResponse:
        return JSONResponse(_ACCEPTED, status_code=202)

    @app.get("/v1/jobs/{job_id}")
    async def read(job_id: str) -> JSONResponse:
        return JSONResponse(_VIEW)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
