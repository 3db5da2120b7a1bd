"""The reference pattern: a gateway written the way the Resonate example does it.

``POST /begin?id=`` dispatches with ``resonate.options(target="worker").rpc(...)``
and answers once the promise exists (``await handle.id()``, the same durability
point as Longhaul's 202). ``GET /wait?id=`` calls ``resonate.get(id)`` and then
``handle.done()`` / ``handle.result()`` on every poll. No payload check, no
idempotency comparison, no metrics, no per-request log line. One full Resonate
client per gunicorn worker (SSE source included), so ``done()`` flips when the
server pushes ``unblock``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse
from resonate.error import ServerError
from resonate.resonate import Resonate

from services.gateway.settings import GatewaySettings

FUNCTION = "longhaul.echo"


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.resonate = Resonate(
            url=settings.resonate_url_str, token=settings.token, group="gateway", env={}
        )
        yield
        await app.state.resonate.stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/begin")
    async def begin(id: str, data: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        handle = app.state.resonate.options(target="worker").rpc(id, FUNCTION, data)
        await handle.id()
        return {"promise": id, "status": "pending", "wait": f"/wait?id={id}"}

    @app.get("/wait")
    async def wait(id: str) -> Any:
        try:
            handle = await app.state.resonate.get(id)
        except ServerError as exc:
            if exc.code == 404:
                return JSONResponse({"error": "not found"}, status_code=404)
            raise
        if not handle.done():
            return {"status": "pending", "promise_id": id}
        try:
            return {"status": "resolved", "promise_id": id, "result": await handle.result()}
        except Exception as exc:
            return {"status": "rejected", "promise_id": id, "error": str(exc)}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
