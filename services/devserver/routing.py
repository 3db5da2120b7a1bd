"""Where a ``poll://`` address is delivered: one live SSE connection, or nowhere.

``poll://any@group`` goes to one live connection of the group (round robin);
``poll://uni@group/pid`` goes to that process's connection only. A message with
no live taker is dropped, as the real server does: the task stays pending and
the state machine offers it again after its retry interval.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Address:
    mode: str  # "any" or "uni"
    group: str
    pid: str | None


def parse_address(address: str) -> Address | None:
    parts = urlsplit(address)
    if parts.scheme != "poll" or parts.username not in ("any", "uni") or not parts.hostname:
        return None
    # The server lowercases hosts (Go's url.Parse): so do we, for group names.
    group = parts.hostname.lower()
    pid = parts.path.lstrip("/") or None
    if parts.username == "uni" and pid is None:
        return None
    return Address(mode=parts.username, group=group, pid=pid if parts.username == "uni" else None)


@dataclass
class ConnectionRegistry[C]:
    _groups: dict[str, dict[str, C]] = field(default_factory=dict)
    _turn: itertools.count = field(default_factory=itertools.count)

    def add(self, group: str, pid: str, conn: C) -> C | None:
        """Register ``conn``; return the connection it replaces (a reconnect), if any."""
        members = self._groups.setdefault(group.lower(), {})
        previous = members.get(pid)
        members[pid] = conn
        return previous

    def remove(self, group: str, pid: str, conn: C) -> None:
        members = self._groups.get(group.lower(), {})
        if members.get(pid) is conn:
            del members[pid]

    def pick(self, address: Address) -> C | None:
        members = self._groups.get(address.group, {})
        if address.mode == "uni":
            return members.get(address.pid or "")
        if not members:
            return None
        conns = list(members.values())
        return conns[next(self._turn) % len(conns)]

    def size(self, group: str) -> int:
        return len(self._groups.get(group.lower(), {}))

    def groups(self) -> dict[str, int]:
        return {group: len(members) for group, members in self._groups.items() if members}
