"""The API document says what retention means for a job and for an Idempotency-Key."""

from __future__ import annotations

import pytest

from services.gateway.app import create_app
from tests.support import gateway_settings

pytestmark = pytest.mark.unit


def test_openapi_describes_retention() -> None:
    doc = create_app(gateway_settings()).openapi()
    read = doc["paths"]["/v1/jobs/{job_id}"]["get"]
    assert "LONGHAUL_RETENTION" in read["description"] and "404" in read["description"]
    (key,) = [
        p for p in doc["paths"]["/v1/jobs"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    ]
    assert "retention period" in key["description"] and "new job" in key["description"]
