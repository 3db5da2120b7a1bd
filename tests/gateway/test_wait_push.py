"""Long-polls woken by push: one stream per process, one listener per job, reads close the gaps.

Against the dev server app in process (the real server's wire behaviour), whose
own ``resonate_request_total`` counts what each long-poll cost it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from services.common import resonate_token
from services.devserver.reference_state import Outgoing
from services.gateway.edge.errors import ResonateUnavailable
from services.stack.processes import free_port
from tests.devserver.wire_client import eventually
from tests.gateway.pushed import PushedGateway, pushed_gateway

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


async def _listening(gw: PushedGateway, count: int = 1) -> None:
    await eventually(lambda: gw.requests("promise.register_listener") >= count)
    await asyncio.sleep(0.02)  # its answer reached the gateway


def _drop_unblocks(gw: PushedGateway) -> list[Outgoing]:
    """From now on the dev server loses every ``unblock`` (as the real one may: best effort)."""
    dropped: list[Outgoing] = []
    deliver = gw.dev.delivery.deliver

    def lossy(messages: list[Outgoing]) -> None:
        dropped.extend(m for m in messages if m.task_id is None)
        deliver([m for m in messages if m.task_id is not None])

    gw.dev.delivery.deliver = lossy  # type: ignore[method-assign]
    return dropped


async def test_a_long_poll_wakes_on_unblock_without_another_read() -> None:
    async with pushed_gateway() as gw:
        job_id = await gw.submit()
        before = gw.requests()
        poll = asyncio.create_task(gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 5}))
        await _listening(gw)
        settled_at = time.monotonic()
        await gw.resolve(job_id, {"done": True})
        response = await poll
        seen_after = time.monotonic() - settled_at
        assert response.status_code == 200
        assert response.json()["status"] == "succeeded"
        assert response.json()["result"] == {"done": True}
        # A read and the listener; the push carried the result, no third read.
        # (The resolve itself is the test's own request.)
        assert gw.requests() - before == 3
        assert gw.requests("promise.register_listener") == 1
        assert gw.gauge("longhaul_gateway_wait_ends_total", how="push") == 1
        # Well inside the first 0.5 s backoff step it replaced (a loaded machine's slack).
        assert seen_after < 0.5
        assert gw.waits.watched() == 0


async def test_a_pending_long_poll_costs_three_requests_whatever_its_length() -> None:
    async with pushed_gateway() as gw:
        job_id = await gw.submit()
        before = gw.requests()
        started = time.monotonic()
        response = await gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 2})
        assert time.monotonic() - started >= 2
        assert response.json()["status"] == "pending"
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers
        # A read, the listener, the final read.
        assert gw.requests() - before == 3
        assert gw.gauge("longhaul_gateway_wait_ends_total", how="final_read") == 1


async def test_with_push_off_a_long_poll_reads_on_the_old_backoff() -> None:
    """The before of the benchmark (LONGHAUL_WAIT_PUSH=false): no stream, ~a read per 0.5 s."""
    async with pushed_gateway(wait_push=False) as gw:
        assert gw.dev.connections.size("gateway") == 0
        job_id = await gw.submit()
        before = gw.requests()
        response = await gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 2})
        assert response.json()["status"] == "pending"
        assert gw.requests("promise.register_listener") == 0
        assert gw.requests() - before > 3
        assert (await gw.client.get("/readyz")).json()["wait"] == {"push": False}


async def test_requests_waiting_on_one_job_share_one_listener() -> None:
    async with pushed_gateway() as gw:
        job_id = await gw.submit()
        polls = [
            asyncio.create_task(gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 5}))
            for _ in range(20)
        ]
        await eventually(lambda: gw.waits.waiters() == 20)
        await _listening(gw)
        assert gw.waits.watched() == 1
        await gw.resolve(job_id, 7)
        responses = await asyncio.gather(*polls)
        assert {r.json()["status"] for r in responses} == {"succeeded"}
        assert gw.requests("promise.register_listener") == 1
        assert gw.waits.watched() == 0 and gw.waits.waiters() == 0


async def test_a_lost_unblock_is_saved_by_the_final_read() -> None:
    async with pushed_gateway() as gw:
        job_id = await gw.submit()
        dropped = _drop_unblocks(gw)
        poll = asyncio.create_task(gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 1}))
        await _listening(gw)
        await gw.resolve(job_id, "late")
        response = await poll
        assert len(dropped) == 1  # the server did send it, and it was lost
        assert response.json()["status"] == "succeeded"
        assert gw.gauge("longhaul_gateway_wait_ends_total", how="final_read") == 1


async def test_a_settle_before_the_listener_is_in_its_answer() -> None:
    """Register-then-check: a job settled between the first read and the listener is not missed."""
    async with pushed_gateway() as gw:
        job_id = await gw.submit()
        store = gw.app.state.store
        listen = store.listen

        async def settle_first(jid: str, address: str) -> Any:
            await gw.resolve(jid, "raced")
            return await listen(jid, address)

        store.listen = settle_first
        started = time.monotonic()
        response = await gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 5})
        assert response.json()["status"] == "succeeded"
        assert time.monotonic() - started < 2
        assert gw.gauge("longhaul_gateway_wait_ends_total", how="listener") == 1


async def test_with_the_stream_down_waits_fall_back_to_reads_and_the_gateway_stays_ready() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with pushed_gateway(push_url=dead) as gw:
        await eventually(lambda: gw.waits.stream.state == "reconnecting")
        ready = await gw.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["wait"]["stream"]["state"] == "reconnecting"
        assert gw.gauge("longhaul_gateway_push_stream_connected") == 0
        assert gw.gauge("longhaul_gateway_push_stream_reconnects_total", cause="connect") >= 1
        job_id = await gw.submit()
        poll = asyncio.create_task(gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 5}))
        await eventually(lambda: gw.requests("promise.get") >= 3)  # re-reading
        settled_at = time.monotonic()
        await gw.resolve(job_id, 1)
        response = await poll
        assert response.json()["status"] == "succeeded"
        assert time.monotonic() - settled_at < 1.5  # within a backoff step
        assert gw.requests("promise.register_listener") == 0
        assert gw.gauge("longhaul_gateway_wait_ends_total", how="read") == 1


async def test_every_reconnect_registers_the_watched_jobs_again() -> None:
    async with pushed_gateway() as gw:
        job_id = await gw.submit()
        poll = asyncio.create_task(gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 5}))
        await _listening(gw)
        connections = gw.waits.stream.connections
        assert await gw.close_streams() == 1
        await eventually(lambda: gw.waits.stream.connections > connections)
        await _listening(gw, 2)  # an unblock lost in the gap would be in this answer
        assert gw.gauge("longhaul_gateway_push_stream_reconnects_total", cause="closed") == 1
        await gw.resolve(job_id, "after")
        response = await poll
        assert response.json()["status"] == "succeeded"
        assert gw.gauge("longhaul_gateway_wait_ends_total", how="push") == 1


async def test_a_client_that_hangs_up_ends_its_wait_and_leaves_nothing_behind() -> None:
    async with pushed_gateway() as gw:
        job_id = await gw.submit()
        gone = asyncio.Event()
        sent: list[dict[str, Any]] = []
        messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

        async def receive() -> dict[str, Any]:
            for message in messages:
                return message
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/v1/jobs/{job_id}",
            "raw_path": f"/v1/jobs/{job_id}".encode(),
            "query_string": b"wait=5",
            "headers": [(b"host", b"gateway")],
            "client": ("127.0.0.1", 1),
            "server": ("gateway", 80),
            "state": {},
        }
        call = asyncio.create_task(gw.app(scope, receive, send))
        await eventually(lambda: gw.waits.waiters() == 1)
        hung_up_at = time.monotonic()
        gone.set()
        await asyncio.wait_for(call, 2)
        assert time.monotonic() - hung_up_at < 0.5
        assert gw.waits.watched() == 0 and gw.waits.waiters() == 0
        assert gw.gauge("longhaul_gateway_waiting_requests") == 0


async def test_a_cancelled_request_leaves_nothing_behind() -> None:
    async with pushed_gateway() as gw:
        job_id = await gw.submit()
        polls = [
            asyncio.create_task(gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 5}))
            for _ in range(3)
        ]
        await eventually(lambda: gw.waits.waiters() == 3)
        for poll in polls:
            poll.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        assert gw.waits.watched() == 0 and gw.waits.waiters() == 0
        assert gw.gauge("longhaul_gateway_watched_jobs") == 0


async def test_readyz_and_metrics_report_the_stream() -> None:
    async with pushed_gateway() as gw:
        body = (await gw.client.get("/readyz")).json()
        wait = body["wait"]
        assert wait["push"] is True and wait["stream"]["state"] == "connected"
        assert wait["address"].startswith("poll://uni@gateway/")
        assert gw.dev.connections.size("gateway") == 1
        text = (await gw.client.get("/metrics")).text
        assert "longhaul_gateway_push_stream_connected 1.0" in text


async def test_a_listener_that_cannot_be_registered_falls_back_to_reads() -> None:
    async with pushed_gateway() as gw:
        job_id = await gw.submit()
        store = gw.app.state.store
        attempts = 0

        async def refused(jid: str, address: str) -> Any:
            nonlocal attempts
            attempts += 1
            raise ResonateUnavailable("promise.register_listener", "test", 1)

        store.listen = refused
        poll = asyncio.create_task(gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 5}))
        await eventually(lambda: gw.requests("promise.get") >= 3)  # re-reading instead
        await gw.resolve(job_id, 2)
        response = await poll
        assert response.json()["status"] == "succeeded"
        assert attempts == 1  # not retried on the same stream connection
        assert gw.gauge("longhaul_gateway_wait_ends_total", how="read") == 1


async def test_with_resonate_auth_the_stream_presents_the_renewed_token(tmp_path: Path) -> None:
    private, public = resonate_token.write_key_pair(tmp_path)
    async with pushed_gateway(
        dev_settings={
            "auth_publickey": public,
            "auth_iss": "longhaul",
            "auth_aud": "resonate",
            "auth_leeway_s": 0,
        },
        LONGHAUL_RESONATE_AUTH_PRIVATE_KEY=str(private),
        LONGHAUL_RESONATE_AUTH_TTL_S=5,
        RESONATE_AUTH__ISS="longhaul",
        RESONATE_AUTH__AUD="resonate",
    ) as gw:
        job_id = await gw.submit()
        poll = asyncio.create_task(gw.client.get(f"/v1/jobs/{job_id}", params={"wait": 5}))
        await _listening(gw)
        await gw.resolve(job_id, "authed")
        assert (await poll).json()["status"] == "succeeded"
        assert gw.gauge("longhaul_gateway_wait_ends_total", how="push") == 1
        await asyncio.sleep(5.5)  # the first token has expired; a renewed one is in use
        connections = gw.waits.stream.connections
        assert await gw.close_streams() == 1
        await eventually(lambda: gw.waits.stream.connections > connections)
        assert gw.waits.stream.reconnects["status"] == 0  # never refused (401)
