"""Hostile HTTP on raw sockets: the header block's size and time, and 413 without a reset.

The gateway runs in this process on a loopback port with the protocol gunicorn's
workers use (``tests/gateway/live.py``). "old:" says what uvicorn's httptools
protocol did.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator

import pytest

from services.gateway.edge.limits import REFUSED
from tests.gateway.live import live_gateway

pytestmark = pytest.mark.unit

HEADER_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[str, int]]:
    with live_gateway(
        header_timeout_s=HEADER_TIMEOUT_S,
        max_header_bytes=16384,
        max_url_bytes=4096,
        max_header_count=50,
        keepalive_s=30,
        body_drain_timeout_s=2,
    ) as (url, _settings):
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def connect(address: tuple[str, int], timeout: float = 5) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (Content-Length framed); raises on a reset."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(status_line.split()[1]), headers, rest[:length]


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def assert_refused(response: tuple[int, dict[str, str], bytes], status: int, slug: str) -> None:
    code, headers, body = response
    assert code == status
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["type"] == f"urn:longhaul:problem:{slug}"
    assert problem["request_id"] == headers["x-request-id"]


def test_a_slowloris_is_cut_off_at_the_header_timeout(gateway: tuple[str, int]) -> None:
    # old: a byte at a time kept the connection (and its buffers) for ever
    sock = connect(gateway)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    started = time.monotonic()
    sent = 0
    for byte in request:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        sent += 1
        readable, _, _ = select.select([sock], [], [], 0.25)
        if readable:
            break
    elapsed = time.monotonic() - started
    assert sent < len(request)
    assert HEADER_TIMEOUT_S * 0.9 < elapsed < HEADER_TIMEOUT_S * 3, elapsed
    assert_refused(read_response(sock), 408, "header-timeout")
    assert closed_by_server(sock)


def test_partial_headers_get_408_then_close(gateway: tuple[str, int]) -> None:
    sock = connect(gateway)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    response = read_response(sock)
    assert HEADER_TIMEOUT_S * 0.9 < time.monotonic() - started < HEADER_TIMEOUT_S * 3
    assert_refused(response, 408, "header-timeout")
    assert closed_by_server(sock)


def test_a_connection_that_sends_nothing_is_closed(gateway: tuple[str, int]) -> None:
    # old: no timer runs before a connection's first response
    sock = connect(gateway)
    started = time.monotonic()
    assert closed_by_server(sock)
    assert time.monotonic() - started < HEADER_TIMEOUT_S * 3


def test_the_timer_does_not_cut_a_request_being_answered(gateway: tuple[str, int]) -> None:
    # A long-poll outlasts the header timeout; then the connection serves another request.
    sock = connect(gateway, timeout=10)
    job = json.dumps({"kind": "sleep", "input": {"seconds": 60}}).encode()
    sock.sendall(
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(job), job)
    )
    status, headers, _ = read_response(sock)
    assert status == 202
    wait = HEADER_TIMEOUT_S * 2
    sock.sendall(
        f"GET {headers['location']}?wait={wait} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1")
    )
    started = time.monotonic()
    status, _, body = read_response(sock)
    assert status == 200 and json.loads(body)["status"] == "pending"
    assert time.monotonic() - started >= wait * 0.9
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(sock)[0] == 200


def test_a_40_mb_header_block_is_refused_at_the_limit(gateway: tuple[str, int]) -> None:
    # old: every byte was buffered (ten such blocks grew a worker by 420 MiB)
    sock = connect(gateway)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    chunk = b"b" * 65536
    with pytest.raises(OSError):
        while sent < 40 * 1_048_576:
            sock.sendall(chunk)
            sent += len(chunk)
    # Refused after about the limit, not after 40 MB (loopback socket buffers
    # take a few MB before the server's close is noticed).
    assert sent < 16 * 1_048_576
    sock.close()


def test_a_header_block_past_the_limit_gets_431(gateway: tuple[str, int]) -> None:
    counted = REFUSED.labels("431", "headers-too-large")
    before = counted._value.get()
    sock = connect(gateway)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 17000 + b"\r\n\r\n")
    assert_refused(read_response(sock), 431, "headers-too-large")
    assert counted._value.get() == before + 1


def test_headers_up_to_the_limit_are_served(gateway: tuple[str, int]) -> None:
    sock = connect(gateway)
    # A whole request in one segment, headers just below the limit and a body after.
    body = json.dumps({"kind": "echo", "input": {"a": "x" * 3000}}).encode()
    head = (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n" % len(body)
    )
    padding = 16384 - len(head) - len(b"X-Pad: \r\n\r\n") - 10
    sock.sendall(head + b"X-Pad: " + b"p" * padding + b"\r\n\r\n" + body)
    assert read_response(sock)[0] == 202


def test_too_many_header_fields_get_431(gateway: tuple[str, int]) -> None:
    sock = connect(gateway)
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(60))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert_refused(read_response(sock), 431, "headers-too-large")


def test_an_absurd_url_gets_414(gateway: tuple[str, int]) -> None:
    sock = connect(gateway)
    sock.sendall(b"GET /v1/jobs/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_refused(read_response(sock), 414, "url-too-long")


def test_http_the_parser_refuses_is_a_400_problem(gateway: tuple[str, int]) -> None:
    # old: uvicorn's plain-text 400 without X-Request-ID
    sock = connect(gateway)
    sock.sendall(b"GET /he\x01lthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_refused(read_response(sock), 400, "bad-request")


def test_a_control_character_in_a_job_id_is_a_404_and_the_connection_stays(
    gateway: tuple[str, int],
) -> None:
    # old: 500 without X-Request-ID, then the connection closed without notice
    sock = connect(gateway)
    sock.sendall(b"GET /v1/jobs/%0A HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = read_response(sock)
    assert status == 404 and headers["x-request-id"]
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(sock)[0] == 200


def test_an_oversize_body_without_expect_gets_the_413_not_a_reset(
    gateway: tuple[str, int],
) -> None:
    # old: the 413 was written and the socket closed under the client still
    # sending, which reset the connection before the client read the answer.
    body = b"x" * (2 * 1_048_576)
    sock = connect(gateway)
    sock.sendall(
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    sock.sendall(body)
    status, _, payload = read_response(sock)
    assert status == 413
    assert json.loads(payload)["title"] == "Request body too large"
    # All of it was read: the connection can go on.
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(sock)[0] == 200


def test_an_oversize_body_with_expect_gets_the_413_before_sending_it(
    gateway: tuple[str, int],
) -> None:
    sock = connect(gateway)
    sock.sendall(
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2097152\r\nExpect: 100-continue\r\n\r\n"
    )
    status, headers, _ = read_response(sock)
    assert status == 413 and headers["connection"] == "close"
    assert closed_by_server(sock)


def test_a_streamed_oversize_body_gets_the_413_not_a_reset(gateway: tuple[str, int]) -> None:
    sock = connect(gateway)
    sock.sendall(
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"y" * 65536
    for _ in range(32):
        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    sock.sendall(b"0\r\n\r\n")
    status, _, payload = read_response(sock)
    assert status == 413
    assert json.loads(payload)["type"] == "urn:longhaul:problem:body-too-large"
