"""Finished job views, rendered once: their bytes, a strong ETag, and a bounded cache of them.

A job whose view is ``final`` never changes again (its promise is settled and
nothing else in the view moves), so its body is rendered once and reused:
later reads of it cost a dictionary lookup instead of a Resonate read.

The cache is per process (each gunicorn worker its own), bounded in entries
(least recently read out first) and in age. It is keyed by job id, and ids
carry their tenant: the read route checks the caller owns the id before it
looks here, so a cached view is only ever served to its tenant. Pending jobs
never enter it (``Job.final`` is false for them), so a settle or a cancel can
never be hidden by it: a job leaves the pending state only to become final.

ETags are strong (the view's bytes are fixed) and ``If-None-Match`` is
evaluated as RFC 9110 section 13.1.2 says: ``*`` or any listed tag equal to
the current one under the weak comparison answers 304.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response

from services.common.json_codec import dumps_bytes
from services.gateway.jobs.job_store import Job
from services.gateway.jobs.schemas import view_body

#: A finished view may be kept by the client (it never changes) but not by a shared cache.
CACHE_FINISHED = b"private"
#: A pending job's view changes: nobody may store it.
CACHE_PENDING = b"no-store"

# entity-tag = [ W/ ] DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
_ENTITY_TAG = re.compile(rb'(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"')


@dataclass(frozen=True, slots=True)
class FinishedView:
    body: bytes
    etag: bytes  # with its quotes, as sent
    raw_headers: tuple[tuple[bytes, bytes], ...]
    not_modified_headers: tuple[tuple[bytes, bytes], ...]
    #: On the cache's clock: when this view may no longer be served from it.
    expires_at: float

    @classmethod
    def of(cls, job: Job, expires_at: float) -> FinishedView:
        body = dumps_bytes(view_body(job))
        etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
        validators = ((b"etag", etag), (b"cache-control", CACHE_FINISHED))
        return cls(
            body=body,
            etag=etag,
            raw_headers=(
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
                *validators,
            ),
            not_modified_headers=validators,
            expires_at=expires_at,
        )

    def response(self, if_none_match: bytes | None) -> Response:
        if if_none_match is not None and matches(if_none_match, self.etag):
            return _Prebuilt(b"", 304, self.not_modified_headers)
        return _Prebuilt(self.body, 200, self.raw_headers)


def matches(if_none_match: bytes, etag: bytes) -> bool:
    """Whether ``If-None-Match`` names the current representation (weak comparison)."""
    if if_none_match.strip() == b"*":
        return True
    opaque = etag[1:-1]
    return any(tag == opaque for tag in _ENTITY_TAG.findall(if_none_match))


class _Prebuilt(Response):
    """A response whose bytes and headers were built once, when the view was rendered."""

    def __init__(
        self, body: bytes, status: int, raw_headers: tuple[tuple[bytes, bytes], ...]
    ) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        # A copy: middleware appends its own headers (the request id) to it.
        self.raw_headers = list(raw_headers)


class FinishedViews:
    """At most ``size`` views, each for at most ``ttl_s`` seconds; ``size`` 0 keeps none.

    ``retention_ms(job_id)`` (``LONGHAUL_RETENTION``, 0: forever) bounds a view's
    stay too: once its job may be deleted, the cache must not keep answering
    200 for a job the server answers 404 for, so the view expires when its job
    has been finished for its retention (``completed_at`` is the server's clock).
    """

    def __init__(
        self,
        size: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        retention_ms: Callable[[str], int] = lambda _job_id: 0,
        wall_ms: Callable[[], float] = lambda: time.time() * 1000,
    ) -> None:
        self._size = size
        self._ttl_s = ttl_s
        self._clock = clock
        self._retention_ms = retention_ms
        self._wall_ms = wall_ms
        self._views: OrderedDict[str, FinishedView] = OrderedDict()

    def __len__(self) -> int:
        return len(self._views)

    def get(self, job_id: str) -> FinishedView | None:
        view = self._views.get(job_id)
        if view is None:
            return None
        if self._clock() >= view.expires_at:
            del self._views[job_id]
            return None
        self._views.move_to_end(job_id)
        return view

    def view_of(self, job: Job) -> FinishedView:
        """The rendered view of a final job, kept for the next read of it."""
        if not job.final:  # a pending view must never be served from here
            raise ValueError(f"job {job.id} is not final")
        now = self._clock()
        expires_at = now + self._ttl_s
        retention = self._retention_ms(job.id)
        if retention and job.completed_ms is not None:
            deletable_in_s = (job.completed_ms + retention - self._wall_ms()) / 1000
            expires_at = min(expires_at, now + deletable_in_s)
        view = FinishedView.of(job, expires_at)
        if self._size and expires_at > now:
            self._views[job.id] = view
            self._views.move_to_end(job.id)
            while len(self._views) > self._size:
                self._views.popitem(last=False)
        return view
