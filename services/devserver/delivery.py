"""Pushing ``execute`` and ``unblock`` messages to SSE connections, best effort.

As the real server (v0.9.8 ``src/transport/transport_http_poll.rs``,
``src/processing/processing_messages.rs``): a message is handed to one open
connection with a non-blocking send into that connection's buffer of
``BUFFER_SIZE`` messages, and dropped when the buffer is full or no connection
takes it. Nothing here remembers a message after that:

- a dropped ``execute`` leaves its task pending; the state machine's retry
  timer (``tasks.retry_timeout``) offers it again;
- a dropped ``unblock`` (a listener's one-shot notice) is never sent again;
- messages still buffered for a connection that closes are lost with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from services.devserver.reference_state import Outgoing
from services.devserver.routing import ConnectionRegistry, parse_address

log = structlog.get_logger("longhaul.devserver")

#: The real server's ``transports.http_poll.buffer_size`` default.
BUFFER_SIZE = 100


@dataclass(eq=False)
class PollConnection:
    group: str
    pid: str
    #: holds at most BUFFER_SIZE messages (``deliver`` checks); ``None`` ends the
    #: stream from the server side (shutdown, /test/close-streams), even when full
    queue: asyncio.Queue[Outgoing | None] = field(default_factory=asyncio.Queue)

    def close(self) -> None:
        self.queue.put_nowait(None)


@dataclass
class Delivery:
    connections: ConnectionRegistry[PollConnection] = field(default_factory=ConnectionRegistry)
    delivered: int = 0  # handed to a connection's buffer
    dropped: int = 0  # no connection, or its buffer full
    #: called with "execute" or "unblock" for every message dispatched, delivered or not
    on_message: Callable[[str], None] = lambda _kind: None

    def deliver(self, messages: list[Outgoing]) -> None:
        for message in messages:
            self.on_message(_kind(message))
            address = parse_address(message.address)
            conn = self.connections.pick(address) if address else None
            if conn is None:
                self._drop(message, "no open connection")
                continue
            if conn.queue.qsize() >= BUFFER_SIZE:
                self._drop(message, "connection buffer full")
                continue
            conn.queue.put_nowait(message)
            self.delivered += 1

    def _drop(self, message: Outgoing, reason: str) -> None:
        self.dropped += 1
        log.debug(
            "message dropped",
            reason=reason,
            address=message.address,
            task_id=message.task_id,
            kind=_kind(message),
        )


def _kind(message: Outgoing) -> str:
    return "execute" if message.task_id else "unblock"
