"""``promise.search`` on the dev server, as the real Resonate server v0.9.8 answers it.

Each test names the behaviour it pins and the v0.9.8 source it was read from
(``resonatehq/resonate``): ``src/server.rs`` (``op_promise_search``),
``src/types.rs`` (``PromiseSearchData``, ``PromiseState``) and
``src/persistence/persistence_postgres.rs`` (``promise_search``). Before this
module the dev server answered every search ``400 unknown request kind``, so
each test below failed there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from resonate.connections import HttpConnection
from resonate.resonate import Resonate
from resonate.types import Value

from services.devserver import search
from services.devserver.reference_state import ReferenceState
from services.devserver.server import DevServer
from services.devserver.settings import DevServerSettings
from tests.devserver.wire_client import call, call_raw, envelope

pytestmark = pytest.mark.unit

FAR = 2**62


@pytest.fixture(params=["memory", "sqlite"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestServer]:
    db = ":memory:" if request.param == "memory" else str(tmp_path / "dev.sqlite3")
    dev = DevServer(DevServerSettings(tick_interval_s=0.05, db=db))
    async with TestServer(dev.app()) as test_server:
        test_server.dev = dev  # type: ignore[attr-defined]
        yield test_server


async def _create(
    session: aiohttp.ClientSession, url: str, promise_id: str, **tags: str
) -> dict[str, Any]:
    return await call(session, url, "promise.create", id=promise_id, timeoutAt=FAR, tags=tags)


async def _search(session: aiohttp.ClientSession, url: str, **data: Any) -> dict[str, Any]:
    status, body = await call_raw(session, url, "promise.search", **data)
    assert status == body["head"]["status"] == 200, body
    return body["data"]


def _ids(page: dict[str, Any]) -> list[str]:
    return [p["id"] for p in page["promises"]]


async def test_pages_are_in_id_order_and_the_cursor_is_the_last_id_only_if_more(
    server: TestServer,
) -> None:
    """``ORDER BY id ASC``, ``id > cursor``, ``limit + 1`` rows fetched, cursor only when more.

    src/server.rs ``op_promise_search``; src/persistence/persistence_postgres.rs.
    """
    url = str(server.make_url("/"))
    ids = ["b", "a", "e", "c", "d"]
    async with aiohttp.ClientSession() as session:
        for promise_id in ids:
            await _create(session, url, promise_id)
        first = await _search(session, url, limit=2)
        assert _ids(first) == ["a", "b"] and first["cursor"] == "b"
        second = await _search(session, url, limit=2, cursor=first["cursor"])
        assert _ids(second) == ["c", "d"] and second["cursor"] == "d"
        last = await _search(session, url, limit=2, cursor=second["cursor"])
        assert _ids(last) == ["e"] and last["cursor"] is None
        # Exactly limit left: no cursor, so no empty page after it.
        exact = await _search(session, url, limit=3, cursor="b")
        assert _ids(exact) == ["c", "d", "e"] and exact["cursor"] is None
        # A cursor need not be an id that exists: it is a position.
        assert _ids(await _search(session, url, cursor="bb")) == ["c", "d", "e"]
        assert (await _search(session, url, cursor="z")) == {"promises": [], "cursor": None}
        # A record is what promise.get answers.
        got = await call(session, url, "promise.get", id="a")
        assert first["promises"][0] == got["data"]["promise"]


async def test_default_limit_is_100(server: TestServer) -> None:
    """No ``limit``: 100 (src/server.rs ``op_promise_search``)."""
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        for i in range(101):
            await _create(session, url, f"p{i:03d}")
        page = await _search(session, url)
        assert len(page["promises"]) == 100 and page["cursor"] == "p099"


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (1001, "Invalid 'limit' — must be between 1 and 1000"),
        (0, "Limit must be a positive integer"),
        (-5, "Limit must be a positive integer"),
        ("10", "Invalid request"),
        (2.5, "Invalid request"),
    ],
)
async def test_a_limit_out_of_range_is_400(server: TestServer, limit: Any, message: str) -> None:
    """``limit`` is an i64 >= 1 (src/types.rs) and at most 1000 (src/server.rs)."""
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        status, body = await call_raw(session, url, "promise.search", limit=limit)
        assert status == body["head"]["status"] == 400
        assert message in str(body["data"])
        assert len((await _search(session, url, limit=1000))["promises"]) == 0


async def test_state_is_compared_exactly(server: TestServer) -> None:
    """``state = $1``: ``rejected`` is not ``rejected_canceled`` nor ``rejected_timedout``.

    src/persistence/persistence_postgres.rs ``promise_search``; the five states
    of ``PromiseState`` in src/types.rs; anything else is 400.
    """
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        for promise_id in ("ok", "bad", "gone", "open"):
            await _create(session, url, promise_id)
        await call(session, url, "promise.create", id="late", timeoutAt=1, tags={})
        for promise_id, state in (
            ("ok", "resolved"),
            ("bad", "rejected"),
            ("gone", "rejected_canceled"),
        ):
            settled = await call(
                session, url, "promise.settle", id=promise_id, state=state, value={}
            )
            assert settled["data"]["promise"]["state"] == state
        expected = {
            "pending": ["open"],
            "resolved": ["ok"],
            "rejected": ["bad"],
            "rejected_canceled": ["gone"],
            "rejected_timedout": ["late"],
        }
        for state, ids in expected.items():
            assert _ids(await _search(session, url, state=state)) == ids, state
        for bad in ("failed", "REJECTED", 3):
            status, _ = await call_raw(session, url, "promise.search", state=bad)
            assert status == 400, bad


async def test_tags_filter_by_containment(server: TestServer) -> None:
    """``tags @> $2``: every pair of the filter is a tag of the promise, other tags free.

    src/persistence/persistence_postgres.rs; ``tags`` is a map of strings (src/types.rs).
    Indexed keys (the job list's) and other keys answer alike.
    """
    url = str(server.make_url("/"))
    async with aiohttp.ClientSession() as session:
        await _create(session, url, "a1", **{"longhaul:tenant": "acme", "longhaul:type": "job"})
        await _create(session, url, "a2", **{"longhaul:tenant": "acme", "color": "red"})
        await _create(session, url, "g1", **{"longhaul:tenant": "globex", "longhaul:type": "job"})
        await _create(session, url, "n1")

        async def found(tags: dict[str, str]) -> list[str]:
            return _ids(await _search(session, url, tags=tags))

        assert await found({}) == ["a1", "a2", "g1", "n1"]
        assert await found({"longhaul:tenant": "acme"}) == ["a1", "a2"]
        assert await found({"longhaul:type": "job"}) == ["a1", "g1"]
        assert await found({"longhaul:tenant": "acme", "longhaul:type": "job"}) == ["a1"]
        assert await found({"color": "red"}) == ["a2"]
        assert await found({"color": "red", "longhaul:tenant": "globex"}) == []
        assert await found({"longhaul:tenant": "initech"}) == []
        assert await found({"longhaul:tenant": ""}) == []
        status, _ = await call_raw(session, url, "promise.search", tags={"n": 1})
        assert status == 400


async def test_sdk_promises_search_reads_the_answer(server: TestServer) -> None:
    """The SDK 0.8.1 ``promises.search`` sends state/tags/limit/cursor and reads the page."""
    url = str(server.make_url("")).rstrip("/")
    client = Resonate(
        network=HttpConnection(url=url),
        group="client",
        sources=[],
        env={},
        subscription_refresh_secs=0,
    )
    try:
        for promise_id in ("x3", "x1", "x2"):
            await client.promises.create(
                promise_id, FAR, Value(data=None), {"longhaul:tenant": "acme"}
            )
        await client.promises.reject("x2", Value(data={"message": "no"}))
        page = await client.promises.search(None, {"longhaul:tenant": "acme"}, 2, None)
        assert [p.id for p in page.promises] == ["x1", "x2"] and page.cursor == "x2"
        rest = await client.promises.search(None, {"longhaul:tenant": "acme"}, 2, page.cursor)
        assert [p.id for p in rest.promises] == ["x3"] and rest.cursor is None
        failed = await client.promises.search("rejected", None, None, None)
        assert [p.id for p in failed.promises] == ["x2"]
    finally:
        await client.stop()


async def test_a_search_is_not_journaled_and_its_index_survives_a_restart(
    tmp_path: Path,
) -> None:
    """A search changes nothing (no row in the journal); the index is rebuilt from a snapshot."""
    db = str(tmp_path / "dev.sqlite3")
    dev = DevServer(DevServerSettings(tick_interval_s=0.05, db=db))
    async with TestServer(dev.app()) as test_server:
        url = str(test_server.make_url("/"))
        async with aiohttp.ClientSession() as session:
            for promise_id in ("k2", "k1"):
                await _create(session, url, promise_id, **{"longhaul:tenant": "acme"})
            assert not dev.state.mutates(envelope("promise.search", limit=5), 0)
            await _search(session, url, limit=5)
    restored = DevServer(DevServerSettings(tick_interval_s=0.05, db=db))
    async with TestServer(restored.app()) as test_server:
        url = str(test_server.make_url("/"))
        async with aiohttp.ClientSession() as session:
            page = await _search(session, url, tags={"longhaul:tenant": "acme"})
            assert _ids(page) == ["k1", "k2"]


def test_a_snapshot_round_trip_keeps_search_answers() -> None:
    state = ReferenceState()
    for i in (3, 1, 2):
        state.apply(
            envelope(
                "promise.create",
                id=f"s{i}",
                timeoutAt=FAR,
                tags={"longhaul:kind": "echo" if i != 2 else "sleep"},
            ),
            0,
        )
    query = envelope("promise.search", tags={"longhaul:kind": "echo"})
    before, _ = state.apply(query, 0)
    after, _ = ReferenceState.load(state.dump(), 30_000).apply(query, 0)
    assert [p["id"] for p in before["data"]["promises"]] == ["s1", "s3"]
    assert after == before


def test_the_job_lists_tags_are_indexed() -> None:
    """The gateway filters on these keys; the dev server keeps an index for each."""
    from services.gateway.jobs.job_store import TAG_KIND, TAG_TENANT, TAG_TYPE

    assert {TAG_KIND, TAG_TENANT, TAG_TYPE} == search.INDEXED_TAG_KEYS


def test_a_deleted_promise_is_not_found_and_one_created_again_is_found_once() -> None:
    """Nothing in v0.9.8 deletes a promise; the dev server's retention may, and search copes."""
    state = ReferenceState()
    tags = {"longhaul:tenant": "acme"}
    for promise_id in ("d1", "d2", "d3"):
        state.apply(envelope("promise.create", id=promise_id, timeoutAt=FAR, tags=tags), 0)
    query = envelope("promise.search", tags=tags)
    promises = state._state.promises
    dict.pop(promises, "d2")  # as a deletion that bypasses the index would
    assert [p["id"] for p in state.apply(query, 0)[0]["data"]["promises"]] == ["d1", "d3"]
    state.apply(envelope("promise.create", id="d2", timeoutAt=FAR, tags=tags), 0)
    assert [p["id"] for p in state.apply(query, 0)[0]["data"]["promises"]] == ["d1", "d2", "d3"]
    # remove() keeps the lists to what the state holds.
    dict.pop(promises, "d1")
    promises.search.remove("d1", tags)
    assert [p["id"] for p in state.apply(query, 0)[0]["data"]["promises"]] == ["d2", "d3"]
    assert len(promises.search.candidates(tags) or ()) == 3  # d2 twice, d3
