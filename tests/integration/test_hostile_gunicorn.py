"""Hostile clients against the real gateway process (gunicorn + the guarded uvicorn worker).

What the in-process tests cannot show: that gunicorn's worker really runs the
guarded protocol with the limits from the environment, and that a worker does
not grow under unfinished 40 MB header blocks. Then a short schemathesis run
over HTTP against the whole stack (dev server, workers).
"""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.gateway.fuzzing import CONFIG, send_as_every_identity
from tests.integration.conftest import StackFactory

pytestmark = pytest.mark.integration

HEADER_TIMEOUT_S = 1.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def web_workers(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def test_header_blocks_are_bounded_in_size_and_time(make_stack: StackFactory) -> None:
    stack = make_stack(
        workers=1,
        web_concurrency=1,
        gateway_env={"LONGHAUL_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)},
    )
    host, port = stack.gateway_url.removeprefix("http://").split(":")
    address = (host, int(port))
    assert stack.gateway is not None and stack.gateway.pid is not None
    (worker,) = web_workers(stack.gateway.pid)
    before = rss_mib(worker)

    # Ten unfinished 40 MB header blocks at once (old: +420 MiB in the worker).
    socks = []
    for _ in range(10):
        sock = socket.create_connection(address, timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        socks.append(sock)
    chunk = b"b" * 65536
    sent = [0] * len(socks)
    for _ in range(40 * 16):
        for i, sock in enumerate(socks):
            if sent[i] < 0:
                continue
            try:
                sock.sendall(chunk)
                sent[i] += len(chunk)
            except OSError:
                sent[i] = -1
    assert all(s == -1 for s in sent), "a 40 MB header block was taken whole"
    grown = rss_mib(worker) - before
    assert grown < 30, f"the web worker grew by {grown:.0f} MiB"
    for sock in socks:
        sock.close()

    # A byte at a time (old: held for ever): cut off at the header timeout.
    sock = socket.create_connection(address, timeout=5)
    started = time.monotonic()
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        if select.select([sock], [], [], 0.25)[0]:
            break
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"x-request-id: " in answer
    assert HEADER_TIMEOUT_S * 0.9 < time.monotonic() - started < HEADER_TIMEOUT_S * 4
    sock.close()

    metrics = httpx.get(f"{stack.gateway_url}/metrics").text
    assert (
        'longhaul_gateway_refused_requests_total{reason="headers-too-large",status="431"} 10.0'
        in metrics
    )
    assert (
        'longhaul_gateway_refused_requests_total{reason="header-timeout",status="408"} 1.0'
        in metrics
    )


def test_schemathesis_against_the_real_gateway(make_stack: StackFactory) -> None:
    # Authentication off (the local stack's default): the in-process run covers
    # credentials; this one covers gunicorn, uvicorn and the real Resonate path.
    stack = make_stack(workers=1, web_concurrency=1, gateway_env={"LONGHAUL_MAX_WAIT_S": "0.2"})
    schema = schemathesis.openapi.from_url(f"{stack.gateway_url}/openapi.json", config=CONFIG)
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            send_as_every_identity(case, stack.gateway_url, {"anonymous": {}})

        run()
