"""Retention: which promises Longhaul may delete, and when. One rule, two executors.

The dev server's sweeper (``services/devserver/sweeper.py``) applies it to its
state in memory; ``python -m services.retention`` applies it to the real
server's Postgres (``services/retention/sql.py``). Both take their numbers from
:class:`RetentionPolicy`, built from :class:`RetentionSettings`.

The rule:

- a job's *origin group* is every promise whose ``resonate:origin`` tag equals
  the job's id: the root (id == origin, tagged ``longhaul:kind`` by the
  gateway), the steps the SDK creates in its context, the worker's attempt
  markers, a notifier root ``<job>.notify`` and its steps;
- a group is deleted whole once its root is settled, has been for the
  retention of the job's tenant (the part of the id before the first ``.``),
  and no promise of the group is pending (a running step or a pending
  notification keeps it);
- settled adverts (ids under :data:`ADVERT_PREFIX`, in no group) are deleted
  once settled longer than ``advert_grace``;
- nothing else: ledger rows, schedules and any other promise stay.

A retention of ``0`` keeps forever.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TAG_ORIGIN = "resonate:origin"
#: The gateway's tag on a job's root promise (``services/gateway/jobs/job_store.py``).
TAG_KIND = "longhaul:kind"
#: Every advert id starts with this (``services/contract/adverts.py``; a unit test pins it).
ADVERT_PREFIX = "longhaul-advert."
#: A tenant is the part of a job id before the first ``.`` (``services/gateway/auth/tenancy.py``).
TENANT_SEPARATOR = "."
#: Tenant names, as the gateway accepts them (``tenancy.TENANT_PATTERN``; a unit test pins it).
TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
FINISHED = frozenset({"resolved", "rejected", "rejected_canceled", "rejected_timedout"})

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)?\s*$")


def parse_duration_ms(value: Any) -> int:
    """``7d``, ``12h``, ``30m``, ``60s``, ``500ms``, ``0`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number with a unit (7d, 12h, 60s, 0)")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not (m := _DURATION.match(value)):
        raise ValueError(f"{value!r} is not a duration: use e.g. 7d, 12h, 30m, 60s, 500ms or 0")
    return int(m.group(1)) * _UNITS_MS[m.group(2) or "s"]


def parse_tenant_overrides(value: Any) -> dict[str, int]:
    """``{"acme": "1d"}`` (JSON) or ``acme=1d,beta=0``: tenant -> retention in ms."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON: {exc}") from None
        else:
            pairs = {}
            for item in filter(None, (part.strip() for part in text.split(","))):
                tenant, sep, duration = item.partition("=")
                if not sep:
                    raise ValueError(f"{item!r}: expected tenant=duration")
                if tenant.strip() in pairs:
                    raise ValueError(f"tenant {tenant.strip()!r} given twice")
                pairs[tenant.strip()] = duration.strip()
            value = pairs
    if not isinstance(value, Mapping):
        raise ValueError("expected a JSON object or tenant=duration,...")
    out = {}
    for tenant, duration in value.items():
        if not isinstance(tenant, str) or not re.fullmatch(TENANT_PATTERN, tenant):
            raise ValueError(f"tenant {tenant!r} does not match {TENANT_PATTERN}")
        out[tenant] = parse_duration_ms(duration)
    return out


DurationMs = Annotated[int, BeforeValidator(parse_duration_ms)]
TenantOverrides = Annotated[dict[str, int], NoDecode, BeforeValidator(parse_tenant_overrides)]


def tenant_of(promise_id: str) -> str:
    return promise_id.split(TENANT_SEPARATOR, 1)[0]


def is_job_root(promise_id: str, tags: Mapping[str, str]) -> bool:
    return tags.get(TAG_ORIGIN) == promise_id and TAG_KIND in tags


def is_advert(promise_id: str, tags: Mapping[str, str]) -> bool:
    # An advert belongs to no job: a tenant named like the prefix keeps its jobs' rule.
    return promise_id.startswith(ADVERT_PREFIX) and TAG_ORIGIN not in tags


@dataclass(frozen=True)
class RetentionPolicy:
    """How long settled things are kept (ms; 0 = forever)."""

    default_ms: int
    tenants: Mapping[str, int] = field(default_factory=dict)
    advert_grace_ms: int = 0

    def retention_ms(self, job_id: str) -> int:
        return self.tenants.get(tenant_of(job_id), self.default_ms)

    @property
    def deletes_anything(self) -> bool:
        return bool(self.default_ms or any(self.tenants.values()) or self.advert_grace_ms)

    def root_expired(self, root_id: str, state: str, settled_at: int | None, now_ms: int) -> bool:
        """The root's own condition; the group also needs no pending member."""
        keep = self.retention_ms(root_id)
        return (
            keep > 0
            and state in FINISHED
            and settled_at is not None
            and settled_at + keep <= now_ms
        )

    def advert_expired(self, state: str, settled_at: int | None, now_ms: int) -> bool:
        grace = self.advert_grace_ms
        return (
            grace > 0
            and state in FINISHED
            and settled_at is not None
            and settled_at + grace <= now_ms
        )


class RetentionSettings(BaseSettings):
    """``LONGHAUL_RETENTION*``: read by every process that deletes (dev server, command)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    retention: DurationMs = Field(
        default="7d",
        validate_default=True,
        validation_alias="LONGHAUL_RETENTION",
        description=(
            "How long a finished job (and every promise of its origin group) is kept after it "
            "settled: 7d, 12h, 60s, ...; 0 keeps forever. A deleted job is 404 and its "
            "Idempotency-Key is forgotten."
        ),
    )
    retention_tenants: TenantOverrides = Field(
        default={},
        validation_alias="LONGHAUL_RETENTION_TENANTS",
        description=(
            "Per-tenant retention overriding LONGHAUL_RETENTION: acme=1d,beta=0 or JSON "
            '{"acme": "1d"}.'
        ),
    )
    retention_adverts: DurationMs = Field(
        default="1h",
        validate_default=True,
        validation_alias="LONGHAUL_RETENTION_ADVERTS",
        description=(
            "How long a settled worker advert (longhaul-advert.*) is kept after it settled; "
            "0 keeps forever."
        ),
    )

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            default_ms=self.retention,
            tenants=dict(self.retention_tenants),
            advert_grace_ms=self.retention_adverts,
        )
