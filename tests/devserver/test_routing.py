"""The poll registry routes like the real server's (v0.9.8 src/transport/transport_http_poll.rs)."""

from __future__ import annotations

import pytest

from services.devserver.routing import MAX_CONNECTIONS, Address, ConnectionRegistry, parse_address

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("poll://any@worker", Address("any", "worker", None)),
        ("poll://any@Worker", Address("any", "worker", None)),
        ("poll://any@worker/pid-1", Address("any", "worker", "pid-1")),
        ("poll://uni@worker/pid-1", Address("uni", "worker", "pid-1")),
        ("poll://uni@worker", None),
        ("poll://other@worker", None),
        ("http://any@worker", None),
        ("garbage", None),
    ],
)
def test_parse_address(address: str, parsed: Address | None) -> None:
    assert parse_address(address) == parsed


def test_anycast_picks_among_members_and_unicast_is_exact() -> None:
    registry: ConnectionRegistry[str] = ConnectionRegistry()
    registry.add("worker", "a", "conn-a")
    registry.add("worker", "b", "conn-b")
    registry.add("other", "c", "conn-c")
    picks = {registry.pick(Address("any", "worker", None)) for _ in range(100)}
    assert picks == {"conn-a", "conn-b"}
    assert registry.pick(Address("uni", "worker", "b")) == "conn-b"
    assert registry.pick(Address("uni", "worker", "c")) is None
    assert registry.pick(Address("any", "nobody", None)) is None


def test_anycast_with_a_pid_prefers_it_and_falls_back_to_the_group() -> None:
    """``poll://any@group/id`` prefers that id's connection, else a random member."""
    registry: ConnectionRegistry[str] = ConnectionRegistry()
    registry.add("worker", "a", "conn-a")
    registry.add("worker", "b", "conn-b")
    assert {registry.pick(Address("any", "worker", "b")) for _ in range(50)} == {"conn-b"}
    assert registry.pick(Address("any", "worker", "gone")) in {"conn-a", "conn-b"}


def test_connections_of_one_pid_are_appended_not_replaced() -> None:
    """``register`` pushes onto the group's list; ``deregister`` removes one connection."""
    registry: ConnectionRegistry[str] = ConnectionRegistry()
    registry.add("worker", "a", "old")
    registry.add("worker", "a", "new")
    assert registry.size("worker") == 2
    assert registry.pick(Address("uni", "worker", "a")) == "old"  # the first one found
    registry.remove("worker", "old")
    assert registry.pick(Address("uni", "worker", "a")) == "new"
    registry.remove("worker", "new")
    assert registry.size("worker") == 0 and registry.groups() == {}


def test_registry_refuses_past_max_connections() -> None:
    """The real server's ``http_poll.max_connections`` defaults to 1000 (src/config.rs)."""
    assert MAX_CONNECTIONS == 1000
    registry: ConnectionRegistry[str] = ConnectionRegistry(max_connections=2)
    assert registry.add("worker", "a", "1") and registry.add("other", "b", "2")
    assert not registry.add("worker", "c", "3")
    registry.remove("worker", "1")
    assert registry.add("worker", "c", "3")
