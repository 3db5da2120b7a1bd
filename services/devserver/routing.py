"""Where a ``poll://`` address is delivered: one open SSE connection, or nowhere.

Mirrors the real server's poll registry (v0.9.8 ``src/transport/transport_http_poll.rs``):

- connections are kept per group in arrival order; a second connection of the
  same (group, pid) is appended next to the first, never replacing it;
- ``poll://uni@group/pid`` goes to the first connection of that pid;
- ``poll://any@group/pid`` prefers a connection of that pid, and
  ``poll://any@group`` (or no such pid) picks a random member of the group;
- at most ``max_connections`` connections in all: the next one is refused.

A message with no taker is dropped: the caller decides what that means (an
``execute`` waits for the retry timer, an ``unblock`` is gone).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: The real server's ``transports.http_poll.max_connections`` default.
MAX_CONNECTIONS = 1000


@dataclass(frozen=True)
class Address:
    mode: str  # "any" or "uni"
    group: str
    pid: str | None


def parse_address(address: str) -> Address | None:
    parts = urlsplit(address)
    if parts.scheme != "poll" or parts.username not in ("any", "uni") or not parts.hostname:
        return None
    # URL hosts are case-insensitive and urlsplit lowercases them: so do group names.
    group = parts.hostname.lower()
    pid = parts.path.lstrip("/") or None
    if parts.username == "uni" and pid is None:
        return None
    return Address(mode=parts.username, group=group, pid=pid)


@dataclass(eq=False)
class Member[C]:
    pid: str
    conn: C


@dataclass
class ConnectionRegistry[C]:
    max_connections: int = MAX_CONNECTIONS
    _groups: dict[str, list[Member[C]]] = field(default_factory=dict)
    _random: random.Random = field(default_factory=random.Random)

    def add(self, group: str, pid: str, conn: C) -> bool:
        """Register ``conn``; False when the registry is full (the caller answers 503)."""
        if self.total() >= self.max_connections:
            return False
        self._groups.setdefault(group.lower(), []).append(Member(pid, conn))
        return True

    def remove(self, group: str, conn: C) -> None:
        members = self._groups.get(group.lower())
        if members is None:
            return
        members[:] = [m for m in members if m.conn is not conn]
        if not members:
            del self._groups[group.lower()]

    def pick(self, address: Address) -> C | None:
        members = self._groups.get(address.group)
        if not members:
            return None
        if address.pid is not None:
            for member in members:
                if member.pid == address.pid:
                    return member.conn
            if address.mode == "uni":
                return None
        return self._random.choice(members).conn

    def matching(self, group: str, pid: str | None = None) -> list[C]:
        return [m.conn for m in self._groups.get(group.lower(), ()) if pid is None or m.pid == pid]

    def size(self, group: str) -> int:
        return len(self._groups.get(group.lower(), ()))

    def total(self) -> int:
        return sum(len(members) for members in self._groups.values())

    def groups(self) -> dict[str, int]:
        return {group: len(members) for group, members in self._groups.items() if members}
