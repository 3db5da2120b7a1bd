"""What a job id can be, checked where the request is routed.

Every id the gateway creates (``<tenant>.job-`` and 32 hex digits) or makes
of a client's (``/begin?id=X`` is the promise ``<tenant>.X``) matches
``JOB_ID_PATTERN``. A path that names
anything else cannot be a job: it is 404 from the router, before any route
code runs and before any call to the Resonate server. (Unchecked, a newline
in an id was a 500 and a 9,000-character one a 503 with ``Retry-After``,
which clients retry forever.)

The check is a Starlette path convertor: the router's own regular
expression does it, at no cost beyond the match it makes anyway.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

#: What a client may name a promise on the compatibility routes (``/begin?id=``).
CLIENT_ID_MAX_LENGTH = 128
#: A tenant prefix (``auth.tenancy``: up to 32 characters and a dot) and a client's id.
JOB_ID_MAX_LENGTH = 32 + 1 + CLIENT_ID_MAX_LENGTH
_JOB_ID_CHARS = r"[A-Za-z0-9._~-]"
#: The client's ids on the compatibility routes: the same characters, shorter.
CLIENT_ID_PATTERN = rf"^{_JOB_ID_CHARS}{{1,{CLIENT_ID_MAX_LENGTH}}}$"
#: The documented pattern (OpenAPI, docs/api.md).
JOB_ID_PATTERN = rf"^{_JOB_ID_CHARS}{{1,{JOB_ID_MAX_LENGTH}}}$"
JOB_ID_DESCRIPTION = (
    f"A job id: 1 to {JOB_ID_MAX_LENGTH} of A-Z a-z 0-9 . _ ~ - (any other path is 404)."
)


class JobIdConvertor(Convertor[str]):
    regex = rf"{_JOB_ID_CHARS}{{1,{JOB_ID_MAX_LENGTH}}}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("job_id", JobIdConvertor())

#: The path segment of a route that takes a job id: ``"/v1/jobs" + JOB_ID_SEGMENT``.
JOB_ID_SEGMENT = "/{job_id:job_id}"
