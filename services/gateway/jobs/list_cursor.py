"""The job list's page cursor: opaque to clients, a position within one tenant's ids.

A cursor is base64url (no padding) of the last job id of a page: the Resonate
server's own cursor (``promise.search`` pages by ``id > cursor``). Decoding
checks that it names an id of the caller's tenant, so a cursor made up or
taken from another tenant is a 422, never a way into someone else's range.
(Nothing more could leak anyway: every search is also filtered by the
caller's tenant tag; the check keeps a forged cursor an explicit error.)
"""

from __future__ import annotations

import base64
import binascii
import re

from services.gateway.auth.tenancy import owns
from services.gateway.edge.errors import Problem
from services.gateway.jobs.ids import JOB_ID_MAX_LENGTH, JOB_ID_PATTERN

_JOB_ID = re.compile(JOB_ID_PATTERN)
#: The longest cursor a job id can make (base64 of JOB_ID_MAX_LENGTH bytes).
MAX_CURSOR_LENGTH = -(-JOB_ID_MAX_LENGTH * 4 // 3)
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
_BASE64URL = re.compile(CURSOR_PATTERN)


def encode_cursor(job_id: str) -> str:
    return base64.urlsafe_b64encode(job_id.encode()).rstrip(b"=").decode()


def decode_cursor(tenant: str, cursor: str) -> str:
    """The job id a cursor names, if it is one of ``tenant``'s; else a 422 problem."""
    job_id = None
    if len(cursor) <= MAX_CURSOR_LENGTH and _BASE64URL.fullmatch(cursor):
        try:
            job_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            job_id = None
    if job_id is None or not _JOB_ID.fullmatch(job_id) or not owns(tenant, job_id):
        raise Problem(
            422,
            "invalid-cursor",
            "Invalid cursor",
            "cursor must be a next_cursor this API returned to you.",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "cursor"}],
        )
    return job_id
