"""A complete Longhaul webhook receiver: verify, dedupe on webhook-id, answer fast.

    pip install standardwebhooks
    LONGHAUL_WEBHOOK_SECRET=whsec_... python receiver.py 8088

Standard library HTTP server plus the ``standardwebhooks`` package. A real
receiver would keep the seen ids in its database (with the work the event
triggers, in one transaction) instead of in memory.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

# Every secret that may sign (during a rotation: the old and the new one).
SECRETS = [s.strip() for s in os.environ["LONGHAUL_WEBHOOK_SECRET"].split(",") if s.strip()]
VERIFIERS = [Webhook(secret) for secret in SECRETS]
SEEN: set[str] = set()


def verify(body: bytes, headers: dict[str, str]) -> dict:
    """The event, if any of our secrets signed it (within 5 minutes); else raise."""
    for verifier in VERIFIERS:
        try:
            return verifier.verify(body, headers)
        except WebhookVerificationError:
            continue
    raise WebhookVerificationError("no valid signature")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = verify(body, dict(self.headers.items()))
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        msg_id = self.headers["webhook-id"]
        if msg_id not in SEEN:  # at least once: the same event may come again
            SEEN.add(msg_id)
            job = event["data"]
            line = {"type": event["type"], "job": job["id"], "status": job["status"]}
            print(json.dumps(line), flush=True)  # noqa: T201 - the example's output
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8088
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
