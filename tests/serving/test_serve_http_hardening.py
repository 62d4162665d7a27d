"""The HTTP layer against hostile clients, over real sockets to a real server process: head
limits on every read path, request smuggling (RFC 9112 section 6.3), slow clients, connection caps.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import server as srv
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
            # 4 MiB, far past the limit plus one read's slack; the kernel's buffers take much of
            # it, so how much was sent says nothing of how much the server read.
            while sent < 64 * HEAD_LIMIT:
                sock.sendall(b"a" * 16384)
                sent += 16384
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
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


POST = b"POST /v2/models/iris/infer HTTP/1.1\r\nhost: x\r\n"
# A second request hidden where a proxy and this server might disagree about the first one's end.
SMUGGLED = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n"
FRAMING_ATTACKS = {
    "content-length and chunked": POST
    + b"content-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunked and content-length": POST
    + b"transfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n0\r\n\r\n",
    "two differing content-lengths": POST + b"content-length: 2\r\ncontent-length: 40\r\n\r\n{}",
    "a content-length list": POST + b"content-length: 2, 40\r\n\r\n{}",
    "a non-numeric content-length": POST + b"content-length: 2x\r\n\r\n{}",
    "a signed content-length": POST + b"content-length: +2\r\n\r\n{}",
    "an overflowing content-length": POST + b"content-length: 99999999999999999999999\r\n\r\n",
    "gzip": POST + b"transfer-encoding: gzip\r\n\r\n{}",
    "gzip then chunked": POST + b"transfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "chunked twice": POST + b"transfer-encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "two transfer-encoding lines": POST
    + b"transfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunked in http/1.0": b"GET /v2/health/live HTTP/1.0\r\nhost: x\r\nconnection: keep-alive\r\n"
    + b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    "an obs-fold line": b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-a: one\r\n two\r\n\r\n",
    "an obs-fold transfer-encoding": POST + b"transfer-encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "a chunk size that is not hex": POST
    + b"transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "a 0x chunk size": POST + b"transfer-encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n",
    "a negative chunk size": POST + b"transfer-encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n",
    "a chunk size with a space": POST + b"transfer-encoding: chunked\r\n\r\n2 \r\n{}\r\n0\r\n\r\n",
    "an empty chunk size": POST + b"transfer-encoding: chunked\r\n\r\n\r\n{}\r\n0\r\n\r\n",
    "an overflowing chunk size": POST
    + b"transfer-encoding: chunked\r\n\r\nfffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
    "a chunk longer than its size": POST + b"transfer-encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
}


# Not framing, but where a proxy and this server could still read one request two ways.
REQUEST_LINE_ATTACKS = {
    "no host": (b"GET /v2/health/live HTTP/1.1\r\n\r\n", b"HTTP/1.1 400", b"not 0"),
    "two hosts": (
        b"GET /v2/health/live HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n",
        b"HTTP/1.1 400",
        b"not 2",
    ),
    "http/0.9": (b"GET /v2/health/live\r\n\r\n", b"HTTP/1.1 505", b"HTTP/1.0 and HTTP/1.1"),
    "http/2.0 in plain text": (
        b"GET /v2/health/live HTTP/2.0\r\nhost: x\r\n\r\n",
        b"HTTP/1.1 505",
        b"HTTP/1.0 and HTTP/1.1",
    ),
}


@pytest.mark.parametrize(
    ("request_bytes", "status", "says"),
    REQUEST_LINE_ATTACKS.values(),
    ids=REQUEST_LINE_ATTACKS.keys(),
)
def test_a_missing_or_doubled_host_or_another_version_is_refused_with_a_close(
    iris: Server, request_bytes: bytes, status: bytes, says: bytes
) -> None:
    answer = exchange(iris.port, request_bytes + SMUGGLED)
    assert answer.startswith(status), answer[:300]
    assert says in answer
    assert b"connection: close" in answer
    head, _, rest = answer.partition(b"\r\n\r\n")
    length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    assert rest[length:] == b"", "a request after the refused one was answered"


def test_http_1_0_without_a_host_is_still_served(iris: Server) -> None:
    assert exchange(iris.port, b"GET /v2/health/live HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("request_bytes", FRAMING_ATTACKS.values(), ids=FRAMING_ATTACKS.keys())
def test_ambiguous_framing_gets_a_400_and_a_close(iris: Server, request_bytes: bytes) -> None:
    answer = exchange(iris.port, request_bytes + SMUGGLED)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"connection: close" in answer
    # The refusal comes from the framing, not from the model server reading a body it was given.
    assert b"malformed HTTP request" in answer or b"cannot frame a request" in answer
    assert answer.count(b"HTTP/1.1 ") == 1, "a request after the refused one was answered"


def test_a_plain_chunked_body_is_still_served(iris: Server) -> None:
    body = b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    answer = exchange(
        iris.port, POST + b"transfer-encoding: Chunked \r\nconnection: close\r\n\r\n" + chunked
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


HEAD_TIMEOUT, IDLE_TIMEOUT = 1.0, 2.0


@pytest.fixture(scope="module")
def impatient(model_dir: Path) -> Iterator[Server]:
    """A server with its head and idle timeouts cut short, for tests that wait them out."""
    args = ["--model-uri", f"file://{model_dir}/iris.skops", "--model-name", "iris",
            "--head-timeout-seconds", str(HEAD_TIMEOUT),
            "--idle-timeout-seconds", str(IDLE_TIMEOUT)]  # fmt: skip
    with srv.running(model_dir, args) as s:
        yield s


def closed_after(sock: socket.socket) -> tuple[float, bytes]:
    """Seconds until the server closes `sock`, and what it sent before."""
    start, answer = time.monotonic(), b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            answer += chunk
    return time.monotonic() - start, answer


def test_a_client_trickling_its_head_neither_delays_others_nor_stays(impatient: Server) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as slow:
        opened = time.monotonic()
        head = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 100
        latencies, answer = [], b""
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for byte in head:
                slow.sendall(bytes([byte]))
                start = time.monotonic()
                assert impatient.get("/v2/health/live").status_code == 200
                latencies.append(time.monotonic() - start)
                time.sleep(0.05)
                if time.monotonic() - opened > 3 * HEAD_TIMEOUT:
                    break
        _, answer = closed_after(slow)
        held = time.monotonic() - opened
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive in time" in answer
    assert HEAD_TIMEOUT <= held < 2 * HEAD_TIMEOUT + 0.5, f"the slow client was held {held:.2f}s"
    # Never as long as the slow client's own timeout, even on a loaded machine.
    assert max(latencies) < HEAD_TIMEOUT, f"another client waited {max(latencies):.2f}s"


def test_a_connection_that_never_sends_is_closed_after_the_head_timeout(impatient: Server) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as sock:
        waited, answer = closed_after(sock)
    assert answer == b""  # no request began, so there is nothing to answer
    assert HEAD_TIMEOUT * 0.9 <= waited < 2 * HEAD_TIMEOUT + 0.5


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(
    impatient: Server,
) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as sock:
        for _ in range(2):  # the idle clock restarts after each response
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(IDLE_TIMEOUT / 2)
        waited, answer = closed_after(sock)
    assert answer == b""
    # Half the idle timeout already passed; the head timeout (shorter) must not have applied.
    assert IDLE_TIMEOUT / 2 * 0.8 <= waited < IDLE_TIMEOUT + 0.5


def test_a_body_that_stops_coming_gets_a_408(impatient: Server) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as sock:
        sock.sendall(POST + b"content-length: 100\r\n\r\n{")
        waited, answer = closed_after(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert IDLE_TIMEOUT * 0.9 <= waited < 2 * IDLE_TIMEOUT + 0.5


MAX_CONNECTIONS = 3


@pytest.fixture(scope="module")
def capped(model_dir: Path) -> Iterator[Server]:
    args = ["--model-uri", f"file://{model_dir}/iris.skops", "--model-name", "iris",
            "--max-connections", str(MAX_CONNECTIONS)]  # fmt: skip
    with srv.running(model_dir, args) as s:
        s.client.close()  # its keep-alive connection from the readiness check would take a place
        yield s


def served(sock: socket.socket) -> bool:
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        return sock.recv(65536).startswith(b"HTTP/1.1 200")
    return False


def test_connections_past_the_cap_are_closed_at_once(capped: Server) -> None:
    time.sleep(0.2)  # the server sees the readiness check's connection close
    address = ("127.0.0.1", capped.port)
    held = [socket.create_connection(address, timeout=10) for _ in range(MAX_CONNECTIONS)]
    try:
        assert all(served(sock) for sock in held)
        with socket.create_connection(address, timeout=10) as extra:
            start = time.monotonic()
            assert not served(extra)
            assert time.monotonic() - start < 1.0, "the connection past the cap was kept waiting"
        assert all(served(sock) for sock in held), "connections within the cap stopped working"
        held.pop().close()
        time.sleep(0.2)
        with socket.create_connection(address, timeout=10) as again:
            assert served(again), "a place freed by a closed connection was not reused"
    finally:
        for sock in held:
            sock.close()


def refused_while_sending(port: int, head: bytes, *, more: int) -> bytes:
    """Send `head`, then `more` bytes of what it announced, then read the whole answer. A server
    that closes with this input unread resets the connection, and the reset can destroy its
    answer before it is read."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        time.sleep(0.2)  # the server has answered by now; the client does not know yet
        for _ in range(more // 16384):
            sock.sendall(b"a" * 16384)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_413_is_read_whole_while_the_client_still_sends_its_body(iris: Server) -> None:
    head = POST + b"content-type: application/json\r\ncontent-length: 10000000\r\n\r\n"
    answer = refused_while_sending(iris.port, head, more=4 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert answer.endswith(b'send fewer rows per request or raise --max-body-bytes"}')
    assert b"connection: close" in answer


def test_a_431_is_read_whole_while_the_client_still_sends_its_head(iris: Server) -> None:
    head = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-pad: " + b"p" * (HEAD_LIMIT + 1)
    answer = refused_while_sending(iris.port, head, more=4 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert answer.endswith(b'send smaller headers"}')
