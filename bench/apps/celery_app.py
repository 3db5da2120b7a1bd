"""FastAPI + Celery with Redis, the usual way: the comparison users ask about.

The same echo job and the same HTTP shape as Longhaul's v1 API, so one load
generator drives both: ``POST /v1/jobs`` sends the task (``send_task`` with the
Idempotency-Key-derived id as task id; Celery does not deduplicate on it) and
answers 202; ``GET /v1/jobs/{id}?wait=S`` reads the result backend, polling with
the gateway's own backoff while waiting. Routes are plain ``def`` (run in the
threadpool), as Celery's client is blocking.

Worker: ``celery -A bench.apps.celery_app worker``. Broker and result backend
come from ``BENCH_REDIS_URL``.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from typing import Annotated, Any

from celery import Celery
from celery.result import AsyncResult
from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

celery = Celery("longhaul_bench", broker=REDIS_URL, backend=REDIS_URL)
celery.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

STATUS = {
    "PENDING": "pending",
    "RECEIVED": "pending",
    "STARTED": "pending",
    "RETRY": "pending",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "REVOKED": "canceled",
}


@celery.task(name="longhaul.echo")
def echo(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


class JobRequest(BaseModel):
    kind: str
    input: dict[str, Any]


def _view(job_id: str, result: AsyncResult) -> dict[str, Any]:
    status = STATUS.get(result.state, "pending")
    body: dict[str, Any] = {"id": job_id, "kind": "echo", "status": status}
    if status == "succeeded":
        body["result"] = result.result
    if status != "pending" and result.date_done is not None:
        body["completed_at"] = result.date_done.isoformat()
    return body


def _poll_schedule() -> tuple[float, float, float]:
    """The gateway's long-poll schedule (first, cap, factor), handed over by the harness in
    ``BENCH_POLL_BACKOFF``, so ``?wait=`` re-reads on the same schedule in both apps without
    this process importing (and holding in memory) the gateway's modules."""
    first, cap, factor = (float(x) for x in os.environ["BENCH_POLL_BACKOFF"].split(","))
    return first, cap, factor


def create_app(_settings: Any) -> FastAPI:
    _POLL_FIRST_S, _POLL_MAX_S, _POLL_FACTOR = _poll_schedule()
    app = FastAPI()

    @app.post("/v1/jobs", status_code=202)
    def submit(
        body: JobRequest,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        if body.kind != "echo":
            return JSONResponse({"error": "unknown kind"}, status_code=422)
        job_id = (
            "job-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
            if idempotency_key
            else "job-" + uuid.uuid4().hex
        )
        celery.send_task("longhaul.echo", args=[body.input], task_id=job_id)
        return JSONResponse(
            {"id": job_id, "kind": "echo", "status": "pending"},
            status_code=202,
            headers={"Location": f"/v1/jobs/{job_id}"},
        )

    @app.get("/v1/jobs/{job_id}")
    def read(job_id: str, wait: Annotated[float, Query(ge=0, le=15)] = 0) -> JSONResponse:
        deadline = time.monotonic() + wait
        delay = _POLL_FIRST_S
        result = AsyncResult(job_id, app=celery)
        while result.state not in ("SUCCESS", "FAILURE", "REVOKED"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(delay, remaining))
            delay = min(delay * _POLL_FACTOR, _POLL_MAX_S)
            result = AsyncResult(job_id, app=celery)
        return JSONResponse(_view(job_id, result))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
