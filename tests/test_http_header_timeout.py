"""A half-sent request is closed after the header-read timeout; a complete one is answered."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from conftest import free_port

from pantry_alert.http.protocol import GuardedH11Protocol, guarded_protocol


class QuickH11(GuardedH11Protocol):
    header_timeout_s = 0.1


class QuickHttpTools(guarded_protocol()):  # type: ignore[misc]  # what serve runs
    header_timeout_s = 0.1


async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module", params=[QuickHttpTools, QuickH11], ids=["httptools", "h11"])
def server(request):
    """One server per protocol for the module: each test opens its own connection."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=request.param, lifespan="off", log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield port
    srv.should_exit = True
    thread.join(5)


def closed_after(sock: socket.socket, limit: float) -> float:
    started = time.monotonic()
    sock.settimeout(limit)
    data = b""
    while True:
        chunk = sock.recv(1024)
        if not chunk:
            return time.monotonic() - started
        data += chunk


@pytest.mark.slow
def test_half_sent_request_is_closed(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert closed_after(sock, 3) < 1.5


@pytest.mark.slow
def test_trickled_headers_do_not_extend_the_deadline(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        started = time.monotonic()
        try:
            for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 40:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            pass  # closed under us: what is expected
        # closed at the 0.1 s deadline; a per-read timeout would wait out the whole trickle (~3 s)
        assert closed_after(sock, 3) + (time.monotonic() - started) < 1.5


@pytest.mark.slow
def test_a_kept_alive_connection_is_guarded_between_requests(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(3)
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 OK")
        sock.sendall(b"GET / HTTP/1.1\r\n")
        assert closed_after(sock, 3) < 1.5
