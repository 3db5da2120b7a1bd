"""An OTLP/HTTP receiver that reads and drops every export (``asgi`` tracing rows).

It runs in the bench process, so its work is not charged to the process measured.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Drop(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@contextmanager
def otlp_sink() -> Iterator[str]:
    """The sink's base URL (for OTEL_EXPORTER_OTLP_ENDPOINT) while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Drop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
