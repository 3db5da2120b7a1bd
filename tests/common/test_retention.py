"""The retention rule's policy: durations, per-tenant overrides, and the names it relies on."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.retention import (
    ADVERT_PREFIX,
    TENANT_PATTERN,
    RetentionPolicy,
    RetentionSettings,
    is_advert,
    is_job_root,
    parse_duration_ms,
    tenant_of,
)
from services.contract.adverts import advert_id
from services.gateway.auth import tenancy
from services.gateway.jobs.job_store import TAG_KIND
from tests.support import catalogue

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("7d", 7 * 86_400_000),
        ("60s", 60_000),
        ("0", 0),
        ("90", 90_000),
        ("500ms", 500),
        ("12h", 43_200_000),
        ("30m", 1_800_000),
        ("2w", 1_209_600_000),
        (" 5 s ", 5000),
    ],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "7x", "-1d", "1.5h", "d", "7 days", True])
def test_bad_durations_fail(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_ms(text)


def test_settings_default_and_overrides_in_both_forms() -> None:
    default = RetentionSettings().policy()
    assert default == RetentionPolicy(7 * 86_400_000, {}, 3_600_000)
    listed = RetentionSettings(LONGHAUL_RETENTION_TENANTS="acme=1d, beta=0").policy()
    as_json = RetentionSettings(LONGHAUL_RETENTION_TENANTS='{"acme": "1d", "beta": 0}').policy()
    assert listed.tenants == as_json.tenants == {"acme": 86_400_000, "beta": 0}
    assert listed.retention_ms("acme.job-1") == 86_400_000
    assert listed.retention_ms("beta.job-1") == 0
    assert listed.retention_ms("other.job-1") == 7 * 86_400_000


@pytest.mark.parametrize(
    "bad",
    ["acme", "acme=7x", "Acme=1d", "a.b=1d", "acme=1d,acme=2d", "{not json", '["acme"]'],
)
def test_bad_overrides_fail_at_boot(bad: str) -> None:
    with pytest.raises(ValidationError):
        RetentionSettings(LONGHAUL_RETENTION_TENANTS=bad)


def test_the_rule_keeps_pending_young_and_forever() -> None:
    policy = RetentionPolicy(60_000, {"keep": 0})
    assert policy.root_expired("t.job", "resolved", 1000, 61_000)
    assert not policy.root_expired("t.job", "resolved", 1000, 60_999)  # younger
    assert not policy.root_expired("t.job", "pending", None, 10**12)
    assert not policy.root_expired("keep.job", "rejected", 1000, 10**12)  # 0 = forever
    assert not RetentionPolicy(0).deletes_anything
    assert not RetentionPolicy(0, advert_grace_ms=0).advert_expired("resolved", 0, 10**12)


def test_the_names_match_the_gateway_and_the_adverts() -> None:
    """Pinned to the modules that create those promises: a rename there fails here."""
    assert TENANT_PATTERN == tenancy.TENANT_PATTERN
    assert tenant_of(tenancy.new_job_id("acme")) == "acme"
    assert tenant_of(tenancy.compat_promise_id("acme", "x.y")) == "acme"
    assert TAG_KIND == "longhaul:kind"
    root = tenancy.new_job_id("acme")
    assert is_job_root(root, {"resonate:origin": root, TAG_KIND: "echo"})
    assert not is_job_root(root + ".1", {"resonate:origin": root})

    for entry in catalogue().entries():
        advert = advert_id(entry, 0)
        assert advert.startswith(ADVERT_PREFIX) and is_advert(advert, {})
