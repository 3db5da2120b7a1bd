from __future__ import annotations

import pytest

from services.devserver.routing import Address, ConnectionRegistry, parse_address

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("poll://any@worker", Address("any", "worker", None)),
        ("poll://any@Worker", Address("any", "worker", None)),
        ("poll://uni@worker/pid-1", Address("uni", "worker", "pid-1")),
        ("poll://uni@worker", None),
        ("poll://other@worker", None),
        ("http://any@worker", None),
        ("garbage", None),
    ],
)
def test_parse_address(address: str, parsed: Address | None) -> None:
    assert parse_address(address) == parsed


def test_anycast_rotates_over_live_members_and_unicast_is_exact() -> None:
    registry: ConnectionRegistry[str] = ConnectionRegistry()
    registry.add("worker", "a", "conn-a")
    registry.add("worker", "b", "conn-b")
    registry.add("other", "c", "conn-c")
    picks = {registry.pick(Address("any", "worker", None)) for _ in range(10)}
    assert picks == {"conn-a", "conn-b"}
    assert registry.pick(Address("uni", "worker", "b")) == "conn-b"
    assert registry.pick(Address("uni", "worker", "c")) is None
    assert registry.pick(Address("any", "nobody", None)) is None


def test_reconnect_replaces_and_stale_remove_is_ignored() -> None:
    registry: ConnectionRegistry[str] = ConnectionRegistry()
    registry.add("worker", "a", "old")
    assert registry.add("worker", "a", "new") == "old"
    registry.remove("worker", "a", "old")  # the old stream ending must not drop the new one
    assert registry.pick(Address("uni", "worker", "a")) == "new"
    registry.remove("worker", "a", "new")
    assert registry.size("worker") == 0
