"""Slow and idle clients (slowloris) against a real `darkroom serve` (src/darkroom/connections.py):
they can neither pin the server nor hold memory without bound.

One server with short limits: header_timeout_seconds = 2, body_timeout_seconds = 2, max_header_bytes =
8192, max_connections = 48. Raw sockets play the slow clients; the official SDK plays the normal one.
Every loop is bounded in count and time; nothing asserts how long anything took.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import openai
import pytest

from ..conftest import API_KEY, LiveServer, start_server, stop_server
from ..images import decode_b64

LIMITS = """
header_timeout_seconds = 2
body_timeout_seconds = 2
max_header_bytes = 8192
max_connections = 48
"""
BOUND_S = 30.0  # no trickle goes on longer than this, whatever the server does
REQUEST_LINE = b"POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("slow-clients"), f'api_keys = ["{API_KEY}"]\n' + LIMITS)
    yield server
    alive = server.process.poll() is None
    stop_server(server)
    assert alive, server.log()


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])), timeout=BOUND_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def trickle(sock: socket.socket, data: bytes, every: float = 0.05) -> int:
    """Send `data` a byte at a time until the server closes the connection (or all is sent, or BOUND_S
    passes); the number of bytes sent."""
    sent, deadline = 0, time.monotonic() + BOUND_S
    sock.settimeout(every)
    for byte in data:
        if time.monotonic() > deadline:
            break
        try:
            sock.recv(1, socket.MSG_PEEK)
            break  # the server answered (or closed the connection): stop sending
        except TimeoutError:
            pass  # nothing from the server yet: the next byte
        except OSError:
            break
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        sent += 1
    return sent


def answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    """Read what the server sent until it closed the connection: (status, headers, body)."""
    sock.settimeout(BOUND_S)
    raw = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else 0
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return status, headers, body


def assert_envelope(status: int, headers: dict, body: bytes, expected: int, code: str) -> None:
    assert status == expected, (status, body)
    assert headers["content-type"] == "application/json" and headers["x-request-id"].startswith("req_")
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code


def rss_bytes(server: LiveServer) -> int:
    with open(f"/proc/{server.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def sdk_image(server: LiveServer) -> None:
    with openai.OpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0, timeout=60) as client:
        result = client.images.generate(model="gpt-image-1", prompt="a lighthouse", size="1024x1024", quality="low")
    assert decode_b64(result.data[0].b64_json).size == (1024, 1024)


def test_trickled_headers_are_cut_at_the_header_deadline(live):
    headers = REQUEST_LINE + b"X-Slow: " + b"a" * 2000 + b"\r\n\r\n"  # 40+ s at one byte per 20 ms
    with connect(live) as sock:
        sent = trickle(sock, headers, every=0.02)
        status, got, body = answer(sock)
    assert sent < len(headers)  # cut off before the headers were done
    assert_envelope(status, got, body, 408, "request_timeout")


def test_a_connection_that_sends_nothing_is_closed(live):
    with connect(live) as sock:
        status, got, body = answer(sock)
    assert_envelope(status, got, body, 408, "request_timeout")


def test_a_slow_body_is_cut_at_the_body_deadline(live):
    payload = json.dumps({"model": "gpt-image-1", "prompt": "x" * 3000}).encode()
    head = REQUEST_LINE + (f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(payload)}\r\n\r\n").encode()
    with connect(live) as sock:
        sock.sendall(head)
        sent = trickle(sock, payload, every=0.02)
        status, got, body = answer(sock)
    assert sent < len(payload)
    assert_envelope(status, got, body, 408, "request_timeout")


def test_headers_past_the_size_limit_are_refused_and_memory_stays_bounded(live):
    """40 clients each push 4 MiB of header bytes and keep their connections open: each is answered 431
    once past 8 KiB, and the server's memory grows by far less than what they sent (160 MiB)."""
    clients, per_client = 40, 4 * 1024 * 1024
    before = rss_bytes(live)
    socks, answers = [], []
    chunk = b"X-Big: " + b"b" * 65536 + b"\r\n"
    for _ in range(clients):
        sock = connect(live)
        socks.append(sock)
        sock.sendall(REQUEST_LINE)
        pushed = 0
        sock.settimeout(2)
        try:
            while pushed < per_client:
                sock.sendall(chunk)
                pushed += len(chunk)
        except OSError:  # the server closed it (or stopped reading): what a slowloris gets
            pass
    peak = rss_bytes(live)
    for sock in socks:
        answers.append(answer(sock))
        sock.close()
    for status, got, body in answers:
        assert_envelope(status, got, body, 431, "headers_too_large")
    assert peak - before < 48 * 1024 * 1024, (before, peak)


def test_a_normal_request_gets_its_image_while_slow_clients_trickle(live):
    stop = threading.Event()
    slow = [connect(live) for _ in range(24)]  # half trickle headers, half send nothing at all

    def drip() -> None:
        for _ in range(int(BOUND_S / 0.05)):
            if stop.is_set():
                return
            for sock in slow[:12]:
                try:
                    sock.send(b"X")
                except OSError:
                    pass
            time.sleep(0.05)

    dripper = threading.Thread(target=drip, daemon=True)
    for sock in slow[:12]:
        sock.sendall(REQUEST_LINE)
    dripper.start()
    try:
        for _ in range(3):
            sdk_image(live)
    finally:
        stop.set()
        dripper.join(timeout=BOUND_S)
        for sock in slow:
            sock.close()


def test_connections_past_max_connections_get_a_503_envelope(live):
    idle = [connect(live) for _ in range(48)]
    try:
        with connect(live) as sock:
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + API_KEY.encode()
                         + b"\r\n\r\n")
            status, got, body = answer(sock)
        assert_envelope(status, got, body, 503, "server_overloaded")
        assert int(got["retry-after"]) >= 1
    finally:
        for sock in idle:
            sock.close()
    sdk_image(live)  # and once they are gone, requests are served again
