"""Signing, schedule, Retry-After, the network policy and the guarded connector."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.common.webhook_networks import NetworkPolicy, parse_networks
from services.worker.notify import delivery
from services.worker.notify.event import encode_event
from services.worker.notify.guard import (
    DestinationRefused,
    PolicyResolver,
    guarded_session,
    policy_socket_factory,
)
from services.worker.notify.schedule import next_delay, parse_retry_after
from services.worker.notify.signing import Signer, check_secret
from services.worker.settings import DEFAULT_WEBHOOK_DELAYS_S, WorkerSettings
from tests.webhook_receiver import OTHER_SECRET, TEST_SECRET, Receiver

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


# -- signing -------------------------------------------------------------------------------


def test_signatures_verify_with_the_package_verifier() -> None:
    body = b'{"type":"job.succeeded"}'
    headers = Signer.from_secrets([TEST_SECRET]).headers("msg_a", body, datetime.now(UTC))
    assert headers["webhook-id"] == "msg_a"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(TEST_SECRET).verify(body, headers) == {"type": "job.succeeded"}
    with pytest.raises(WebhookVerificationError):
        Webhook(TEST_SECRET).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(body, headers)


def test_every_secret_signs_so_receivers_can_rotate() -> None:
    body = b"{}"
    headers = Signer.from_secrets([TEST_SECRET, OTHER_SECRET]).headers(
        "msg_b", body, datetime.now(UTC)
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(TEST_SECRET).verify(body, headers)  # a receiver with the old secret
    Webhook(OTHER_SECRET).verify(body, headers)  # and one with the new


def test_a_tenant_with_its_own_secrets_is_signed_with_those_only(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps({"acme": [OTHER_SECRET]}))
    signer = Signer.from_secrets([TEST_SECRET], path)
    acme = signer.headers("msg_c", b"{}", datetime.now(UTC), tenant="acme")
    Webhook(OTHER_SECRET).verify(b"{}", acme)
    with pytest.raises(WebhookVerificationError):
        Webhook(TEST_SECRET).verify(b"{}", acme)
    Webhook(TEST_SECRET).verify(b"{}", signer.headers("m", b"{}", datetime.now(UTC), "other"))


def test_no_secret_means_no_headers_and_bad_secrets_fail_at_boot() -> None:
    with pytest.raises(ValueError, match="no webhook secret"):
        Signer.from_secrets([]).headers("m", b"{}", NOW)
    for bad in ("nope", "whsec_", "whsec_!!!", "whsec_c2hvcnQ="):
        with pytest.raises(ValueError):
            check_secret(bad, "X")
    with pytest.raises(ValueError):
        WorkerSettings(LONGHAUL_WEBHOOK_SECRETS="whsec_c2hvcnQ=")


def test_worker_settings_read_the_installation_variables(monkeypatch) -> None:
    monkeypatch.setenv("LONGHAUL_WEBHOOK_SECRETS", f"{TEST_SECRET}, {OTHER_SECRET}")
    monkeypatch.setenv("LONGHAUL_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,10.0.0.0/8")
    monkeypatch.setenv("LONGHAUL_WEBHOOK_RETRY_DELAYS_S", "0.1,0.2")
    settings = WorkerSettings()
    assert [s.get_secret_value() for s in settings.webhook_secrets] == [TEST_SECRET, OTHER_SECRET]
    assert settings.webhook_retry_delays_s == (0.1, 0.2)
    assert settings.webhook_policy.refusal("10.1.2.3") is None
    monkeypatch.setenv("LONGHAUL_WEBHOOK_ALLOWED_NETWORKS", "not-a-network")
    with pytest.raises(ValueError, match="not a network"):
        WorkerSettings()
    monkeypatch.setenv("LONGHAUL_WEBHOOK_ALLOWED_NETWORKS", "")
    monkeypatch.setenv("LONGHAUL_WEBHOOK_RETRY_DELAYS_S", ",".join(["86400"] * 8))
    with pytest.raises(ValueError, match="more than the notifier"):
        WorkerSettings()


# -- schedule and Retry-After ----------------------------------------------------------------


def test_the_default_schedule_spans_about_three_days() -> None:
    assert DEFAULT_WEBHOOK_DELAYS_S[:6] == (5, 300, 1800, 7200, 18000, 36000)
    total_h = sum(DEFAULT_WEBHOOK_DELAYS_S) / 3600
    assert 60 < total_h < 80


def test_delays_are_jittered_within_bounds_and_end() -> None:
    delays = (10.0, 100.0)
    low = next_delay(1, delays, jitter=0.2, retry_after_s=None, max_retry_after_s=0, rand=lambda: 0)
    high = next_delay(
        1, delays, jitter=0.2, retry_after_s=None, max_retry_after_s=0, rand=lambda: 0.9999
    )
    assert low == pytest.approx(8.0) and high == pytest.approx(12.0, rel=1e-3)
    assert next_delay(2, delays, jitter=0, retry_after_s=None, max_retry_after_s=0) == 100
    assert next_delay(3, delays, jitter=0, retry_after_s=None, max_retry_after_s=0) is None


def test_retry_after_lengthens_a_delay_up_to_the_bound() -> None:
    delays = (10.0,)
    assert next_delay(1, delays, jitter=0, retry_after_s=60, max_retry_after_s=3600) == 60
    assert next_delay(1, delays, jitter=0, retry_after_s=99999, max_retry_after_s=120) == 120
    # Retry-After: 0 cannot burn through the schedule.
    assert next_delay(1, delays, jitter=0, retry_after_s=0, max_retry_after_s=3600) == 10


def test_retry_after_seconds_or_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120
    later = (NOW + timedelta(minutes=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, NOW) == pytest.approx(120)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("-5", NOW) is None


def test_status_classification() -> None:
    assert delivery.classify(200) == delivery.classify(204) == "delivered"
    assert delivery.classify(410) == "gone"
    for status in (301, 302, 307, 400, 404, 429, 500, 502, 503):
        assert delivery.classify(status) == "retry", status


# -- the event -------------------------------------------------------------------------------


def test_an_event_over_the_bound_leaves_the_result_out_with_a_link() -> None:
    event = {
        "type": "job.succeeded",
        "timestamp": "t",
        "data": {"id": "j", "status": "succeeded", "result": "x" * 5000, "links": {"self": "/j"}},
    }
    small = json.loads(encode_event(event, 100_000))
    assert small["data"]["result"] == "x" * 5000 and "result_omitted" not in small["data"]
    body = encode_event(event, 1024)
    bounded = json.loads(body)
    assert len(body) < 1024
    assert "result" not in bounded["data"] and bounded["data"]["result_omitted"] is True
    assert bounded["data"]["links"] == {"self": "/j"}


# -- the network policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "169.254.1.1",
        "0.0.0.0",
        "224.0.0.251",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
        "100.100.100.200",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert NetworkPolicy().refusal(address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.215.14"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert NetworkPolicy().refusal(address) is None


def test_the_allowlist_opens_exactly_its_networks() -> None:
    policy = NetworkPolicy(parse_networks(["127.0.0.0/8", "10.0.0.0/16"]))
    assert policy.refusal("127.0.0.1") is None
    assert policy.refusal("10.0.255.1") is None
    assert policy.refusal("10.1.0.1") is not None
    assert policy.refusal("::1") is not None
    assert policy.refusal("169.254.169.254") is not None


# -- the guarded connector ---------------------------------------------------------------------


class ScriptedResolver(AbstractResolver):
    """A DNS that answers differently each time: the rebinding attack."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = 0):
        address = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


async def test_the_resolver_drops_refused_addresses() -> None:
    resolver = PolicyResolver(NetworkPolicy(), ScriptedResolver("169.254.169.254"))
    with pytest.raises(DestinationRefused, match="no allowed address"):
        await resolver.resolve("metadata.example", 80)


async def test_a_name_that_rebinds_to_loopback_is_never_connected_to() -> None:
    receiver = await Receiver().start()
    # The name first resolves to a public address (what any check made before the
    # connection would see), then to the receiver on loopback. The check is made on what
    # the connect uses, so nothing reaches 127.0.0.1.
    policy = NetworkPolicy()
    dns = ScriptedResolver("93.184.215.14", "127.0.0.1")
    first = await PolicyResolver(policy, dns).resolve("rebind.example", receiver.port)
    assert first[0]["host"] == "93.184.215.14"
    session = guarded_session(policy, dns)
    try:
        url = f"http://rebind.example:{receiver.port}/hook"
        result = await delivery.attempt(session, policy, url, b"{}", {}, 2)
        assert result.outcome == "refused", result
        assert receiver.deliveries == []
        assert dns.calls == 2
    finally:
        await session.close()
        await receiver.stop()


def test_the_socket_factory_refuses_what_no_resolver_filtered() -> None:
    factory = policy_socket_factory(NetworkPolicy())
    for address in ("127.0.0.1", "169.254.169.254"):
        with pytest.raises(DestinationRefused):
            factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 80)))
    factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 80))).close()


async def test_a_literal_ip_is_checked_on_the_connect_itself() -> None:
    receiver = await Receiver().start()
    policy = NetworkPolicy()  # aiohttp never resolves a literal IP: the socket factory refuses
    session = guarded_session(policy)
    try:
        result = await delivery.attempt(session, policy, receiver.url, b"{}", {}, 2)
        assert result.outcome == "refused" and receiver.deliveries == []
    finally:
        await session.close()
        await receiver.stop()


async def test_an_allowed_destination_is_reached_and_connection_errors_retry() -> None:
    receiver = await Receiver().start()
    policy = NetworkPolicy(parse_networks(["127.0.0.0/8"]))
    session = guarded_session(policy)
    try:
        ok = await delivery.attempt(session, policy, receiver.url, b"{}", {}, 2)
        assert ok.outcome == "delivered" and ok.status == 200
        port = receiver.port
        await receiver.stop()
        down = await delivery.attempt(
            session, policy, f"http://127.0.0.1:{port}/hook", b"{}", {}, 2
        )
        assert down.outcome == "retry" and down.status is None
        assert down.label == "connection"
    finally:
        await session.close()
        await receiver.stop()


async def test_a_slow_receiver_is_a_timeout_that_retries() -> None:
    receiver = await Receiver(delay_s=1.0).start()
    policy = NetworkPolicy(parse_networks(["127.0.0.0/8"]))
    session = guarded_session(policy)
    try:
        slow = await delivery.attempt(session, policy, receiver.url, b"{}", {}, 0.2)
        assert slow.outcome == "retry" and slow.label == "timeout"
    finally:
        await session.close()
        await receiver.stop()
