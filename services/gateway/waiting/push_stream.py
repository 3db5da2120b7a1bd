"""The gateway process's one SSE stream to the Resonate server: where its ``unblock`` messages come.

Each gateway process (each gunicorn worker) opens ``GET /poll/gateway/{pid}``
with a pid of its own, so ``poll://uni@gateway/{pid}`` reaches it alone. It is
the worker's supervised stream (``services/common/resonate_stream.py``): no
total or read timeout, TCP keep-alive, a bounded reconnect ladder, its state
in a ``ListenerStatus``. Every such stream counts toward the real server's
1000 SSE connections (gateways x gunicorn workers + workers).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable

from services.common.resonate_stream import SupervisedSSE
from services.common.stream_status import ListenerStatus
from services.gateway.settings import GatewaySettings

#: The Resonate group of gateway processes (no task is ever routed to it).
GROUP = "gateway"

PushFactory = Callable[[GatewaySettings, ListenerStatus, str | None], SupervisedSSE]


def process_pid() -> str:
    """Unique per process and per start: a restarted worker is a new listener address."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def connect_push(
    settings: GatewaySettings, status: ListenerStatus, token: str | None
) -> SupervisedSSE:
    return SupervisedSSE(
        settings.resonate_url_str,
        pid=process_pid(),
        group=GROUP,
        auth=token,
        status=status,
        connect_timeout_s=settings.resonate_timeout_s,
        tcp_keepalive_s=settings.wait_push_tcp_keepalive_s,
        reconnect_max_s=settings.wait_push_reconnect_max_s,
    )
