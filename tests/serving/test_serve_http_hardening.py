"""The HTTP layer against hostile clients, over real sockets to a real server process: head
limits on every read path, request smuggling (RFC 9112 section 6.3), slow clients, connection caps.
"""

from __future__ import annotations

import contextlib
import socket

from tests.serving.server import Server

HEAD_LIMIT = 64 * 1024


def exchange(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Send `data` in one write and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(data)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


def test_a_head_past_the_limit_in_one_read_gets_a_431_and_a_close(iris: Server) -> None:
    filler = b"".join(b"x-filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(100))
    head = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n" + filler + b"\r\n"
    answer = exchange(iris.port, head)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"exceed 64 KiB" in answer
    assert b"connection: close" in answer
    assert answer.count(b"HTTP/1.1") == 1  # nothing after the refusal was answered
    assert iris.get("/v2/health/live").status_code == 200


def test_a_header_line_that_never_ends_is_cut_off_at_the_limit(iris: Server) -> None:
    with socket.create_connection(("127.0.0.1", iris.port), timeout=10) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-endless: ")
        sent = 0
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            while sent < 64 * HEAD_LIMIT:  # 4 MiB: far past the limit plus a read's slack
                sock.sendall(b"a" * 16384)
                sent += 16384
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert sent < 8 * HEAD_LIMIT, f"the server read {sent} bytes of one header before refusing"
    assert iris.get("/v2/health/live").status_code == 200


def test_a_long_url_without_a_line_end_is_cut_off_at_the_limit(iris: Server) -> None:
    with socket.create_connection(("127.0.0.1", iris.port), timeout=10) as sock:
        sock.sendall(b"GET /")
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for _ in range(256):
                sock.sendall(b"a" * 16384)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_a_head_just_under_the_limit_is_served(iris: Server) -> None:
    head = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
    filler = b"x-filler: " + b"a" * (HEAD_LIMIT - len(head) - 1024) + b"\r\n"
    answer = exchange(iris.port, head + filler + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
