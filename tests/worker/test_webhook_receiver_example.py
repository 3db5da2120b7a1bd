"""The receiver in docs/webhooks.md (examples/webhook-receiver/receiver.py) works as documented."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.stack.processes import free_port
from services.worker.notify.signing import Signer
from tests.webhook_receiver import OTHER_SECRET, TEST_SECRET

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "webhook-receiver" / "receiver.py"


def test_the_docs_show_the_example_verbatim() -> None:
    assert EXAMPLE.read_text() in (ROOT / "docs" / "webhooks.md").read_text()


def test_the_example_verifies_dedupes_and_refuses_bad_signatures() -> None:
    port = free_port()
    env = {"LONGHAUL_WEBHOOK_SECRET": f"{OTHER_SECRET},{TEST_SECRET}", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/hooks"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(url, timeout=0.5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, process.stderr
                time.sleep(0.05)
        body = b'{"type":"job.succeeded","data":{"id":"j1","status":"succeeded"}}'
        headers = Signer.from_secrets([TEST_SECRET]).headers("msg_j1", body, datetime.now(UTC))
        assert httpx.post(url, content=body, headers=headers).status_code == 204
        assert httpx.post(url, content=body, headers=headers).status_code == 204  # a duplicate
        tampered = body.replace(b"succeeded", b"failed", 1)
        assert httpx.post(url, content=tampered, headers=headers).status_code == 400
        assert httpx.post(url, content=body).status_code == 400  # unsigned
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=5)
    assert out.splitlines() == ['{"type": "job.succeeded", "job": "j1", "status": "succeeded"}']
