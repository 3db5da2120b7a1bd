"""``promise.search`` as the real Resonate server v0.9.8 answers it, over the reference state.

What the real server does (``resonatehq/resonate``, read at v0.9.8):

- ``src/types.rs`` ``PromiseSearchData``: ``state`` is one ``PromiseState``
  (``pending``, ``resolved``, ``rejected``, ``rejected_canceled``,
  ``rejected_timedout``; any other string fails to deserialize), ``tags`` a
  map of string to string, ``limit`` an i64 validated ``>= 1``, ``cursor`` a
  string; each optional, unknown fields ignored;
- ``src/server.rs`` ``op_promise_search``: a body that does not deserialize or
  validate is 400; ``limit`` above 1000 is 400 ("Invalid 'limit' — must be
  between 1 and 1000"); no limit is 100. It fetches ``limit + 1`` rows, answers
  the first ``limit`` as ``promises`` and ``cursor`` = the id of the last one
  only when a further row exists, else null (so the last page has no cursor and
  no empty page follows). Unlike ``promise.get`` it times nothing out first;
- ``src/persistence/persistence_postgres.rs`` ``promise_search``:
  ``WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR tags @> $2) AND
  ($3 IS NULL OR id > $3) ORDER BY id ASC LIMIT $4``. ``state`` is compared
  exactly: ``rejected`` finds rejected promises only, not ``rejected_canceled``
  nor ``rejected_timedout``. ``tags @> $2`` is JSON containment: every pair of
  the filter is a tag of the promise. There is no index on ``tags``: every
  search reads the whole table;
- ``src/auth.rs``: a token with a ``prefix`` claim may not search (403, in
  ``auth.py``).

The dev server gets the same answers without reading every promise: ids are
kept in id order per tag pair for the tag keys in ``INDEXED_TAG_KEYS`` (the
ones Longhaul's job list filters on), and in one id-ordered list of all
promises for every other filter. A search walks the shortest list that the
filter's pairs allow, from the cursor on, and checks each promise against the
whole filter, so the result never depends on which list it walked. Order is
Python's string order (code points); Postgres orders ``text`` by the
database's collation, which for ids of ASCII letters, digits and ``.-_`` may
differ around punctuation: a cursor is only ever compared with the same order,
so paging stays exact on either.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any

from resonate.connections import local
from resonate.error import ServerError

KIND = "promise.search"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
STATES = ("pending", "resolved", "rejected", "rejected_canceled", "rejected_timedout")
#: Tag keys with an index of their own: the job list's filters
#: (``services/gateway/jobs/job_store.py``, pinned by a test). Any other tag is
#: matched by walking, with the same result.
INDEXED_TAG_KEYS = frozenset({"longhaul:tenant", "longhaul:type", "longhaul:kind"})


class _OrderedIds:
    """Ids appended in any order, read in sorted order.

    Sorting happens on read, only after something was added: Timsort merges
    the sorted prefix with the unsorted tail in about linear time.
    """

    __slots__ = ("_ids", "_sorted")

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._sorted = True

    def add(self, promise_id: str) -> None:
        self._ids.append(promise_id)
        self._sorted = False

    def __len__(self) -> int:
        return len(self._ids)

    def remove(self, promise_id: str) -> None:
        self.after(None)  # sorted
        at = bisect_right(self._ids, promise_id) - 1
        while at >= 0 and self._ids[at] == promise_id:
            del self._ids[at]
            at -= 1

    def after(self, cursor: str | None) -> Iterable[str]:
        if not self._sorted:
            self._ids.sort()
            self._sorted = True
        ids = self._ids
        start = bisect_right(ids, cursor) if cursor is not None else 0
        return (ids[i] for i in range(start, len(ids)))


class SearchIndex:
    """Every promise id in order, and per indexed tag pair; fed by ``_IndexedPromises``."""

    __slots__ = ("_all", "_by_tag")

    def __init__(self) -> None:
        self._all = _OrderedIds()
        self._by_tag: dict[tuple[str, str], _OrderedIds] = {}

    def add(
        self, promise_id: str, tags: Mapping[str, str], previous: Mapping[str, str] | None
    ) -> None:
        """Index a promise stored under ``promise_id`` (``previous``: the tags it replaced)."""
        if previous is None:
            self._all.add(promise_id)
        for key, value in tags.items():
            if key in INDEXED_TAG_KEYS and (previous is None or previous.get(key) != value):
                self._by_tag.setdefault((key, value), _OrderedIds()).add(promise_id)

    def remove(self, promise_id: str, tags: Mapping[str, str]) -> None:
        """Forget a promise deleted from the state (linear in the lists it was in).

        Not needed for correct answers: a search skips ids no longer in the
        state and ids listed twice (deleted, then created again); this keeps
        the lists from growing with what was deleted.
        """
        self._all.remove(promise_id)
        for pair in tags.items():
            ids = self._by_tag.get(pair)
            if ids is not None:
                ids.remove(promise_id)
                if not len(ids):
                    del self._by_tag[pair]

    def candidates(self, tags: Mapping[str, str]) -> _OrderedIds | None:
        """The shortest list holding every match; None when no promise can match."""
        best = self._all
        for pair in tags.items():
            if pair[0] not in INDEXED_TAG_KEYS:
                continue
            ids = self._by_tag.get(pair)
            if ids is None:
                return None
            if len(ids) < len(best):
                best = ids
        return best


def promise_search(
    promises: Mapping[str, local.DurablePromise], index: SearchIndex, corr_id: Any, req: Any
) -> dict[str, Any]:
    """The flat ``promise.search`` response (the reference machine's shape)."""
    state, tags, limit, cursor = _parse(req)
    page: list[dict[str, Any]] = []
    more = False
    ids = index.candidates(tags)
    last = None
    for promise_id in ids.after(cursor) if ids is not None else ():
        if promise_id == last:
            continue  # deleted and created again: listed twice, side by side
        last = promise_id
        p = promises.get(promise_id)
        if p is None or (state is not None and p.state != state):
            continue  # deleted (retention), or not in the state asked for
        if any(p.tags.get(key) != value for key, value in tags.items()):
            continue
        if len(page) == limit:
            more = True  # the real server's limit + 1st row
            break
        page.append(p.to_record())
    return {
        "kind": KIND,
        "corrId": corr_id,
        "status": 200,
        "promises": page,
        "cursor": page[-1]["id"] if more else None,
    }


def _parse(req: Any) -> tuple[str | None, dict[str, str], int, str | None]:
    def invalid(message: str) -> ServerError:
        return ServerError(400, f"Invalid request: {message}")

    state = local._get(req, "state")
    if state is not None and state not in STATES:
        raise invalid(
            f"unknown variant `{state}`, expected one of " + ", ".join(f"`{s}`" for s in STATES)
            if isinstance(state, str)
            else f"invalid type: {state!r}, expected a promise state"
        )
    tags = local._get(req, "tags")
    if tags is None:
        tags = {}
    elif not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise invalid("invalid type: tags, expected a map of strings")
    limit = local._get(req, "limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    elif type(limit) is not int:  # an i64: no float, no bool, no string
        raise invalid(f"invalid type: {limit!r}, expected i64")
    elif limit < 1:
        raise ServerError(400, "limit: Limit must be a positive integer")
    elif limit > MAX_LIMIT:
        raise ServerError(400, "Invalid 'limit' — must be between 1 and 1000")
    cursor = local._get(req, "cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise invalid(f"invalid type: {cursor!r}, expected a string")
    return state, tags, limit, cursor
