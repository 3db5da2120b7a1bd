"""One audit line per submit and cancel: who (tenant, key id or subject), what, outcome."""

from __future__ import annotations

from typing import Any

import structlog

from services.gateway.auth.principal import Principal

log = structlog.get_logger("longhaul.gateway.audit")


def audit(principal: Principal, action: str, job_id: str, outcome: str, **fields: Any) -> None:
    log.info(
        "audit",
        action=action,
        job_id=job_id,
        outcome=outcome,
        **principal.audit_fields(),
        **fields,
    )
