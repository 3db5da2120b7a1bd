"""Tenants and the promise ids that keep them apart.

A job's id is its Resonate promise id, and it starts with the tenant:

* with an ``Idempotency-Key``: ``<tenant>.job-`` + the first 32 hex digits of
  HMAC-SHA256(``LONGHAUL_ID_SECRET``, ``<tenant>`` NUL ``<key>``): the same key
  in two tenants is two jobs, and nobody without the secret can compute the id
  of someone else's key;
* without one: ``<tenant>.job-`` + 32 random hex digits;
* from the compatibility route ``/begin?id=<id>``: ``<tenant>.<id>``.

A tenant name has no ``.``, so ``acme.`` is never a prefix of ``acme2.``'s ids:
a Resonate token with the claim ``prefix: "<tenant>."`` reaches exactly that
tenant's jobs and the steps the workers derive from them (``<root id>.<n>``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
_TENANT = re.compile(TENANT_PATTERN)
#: With authentication off every job belongs to this tenant.
DEFAULT_TENANT = "default"
#: Names whose prefix other promises already use (the execution ledger's ``ledger.<job>...``).
RESERVED_TENANTS = frozenset({"ledger"})
SEPARATOR = "."


def check_tenant(name: str) -> str:
    if not _TENANT.fullmatch(name):
        raise ValueError(f"tenant {name!r} does not match {TENANT_PATTERN}")
    if name in RESERVED_TENANTS:
        raise ValueError(f"tenant {name!r} is reserved")
    return name


def is_tenant(name: object) -> bool:
    return isinstance(name, str) and bool(_TENANT.fullmatch(name)) and name not in RESERVED_TENANTS


def prefix(tenant: str) -> str:
    return tenant + SEPARATOR


def job_id_for_key(secret: bytes, tenant: str, key: str) -> str:
    """Same tenant and Idempotency-Key, same promise id: the server dedupes the create."""
    digest = hmac.new(secret, f"{tenant}\0{key}".encode(), hashlib.sha256).hexdigest()
    return f"{tenant}{SEPARATOR}job-{digest[:32]}"


def new_job_id(tenant: str) -> str:
    return f"{tenant}{SEPARATOR}job-{uuid.uuid4().hex}"


def compat_promise_id(tenant: str, client_id: str) -> str:
    """The promise behind ``/begin?id=<client_id>`` and ``/wait?id=<client_id>``."""
    return f"{tenant}{SEPARATOR}{client_id}"


def tenant_of(job_id: str) -> str:
    """The tenant whose id this is: a tenant name has no ``.``, every job id starts with one."""
    return job_id.partition(SEPARATOR)[0]


def owns(tenant: str, job_id: str) -> bool:
    """Whether ``job_id`` is ``tenant``'s: another tenant's is answered like an unknown id."""
    return job_id.startswith(tenant) and job_id[len(tenant) : len(tenant) + 1] == SEPARATOR
