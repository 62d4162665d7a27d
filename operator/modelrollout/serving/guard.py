"""uvicorn's httptools connection with what a model server facing hostile clients needs on top.

Head limits (431), framing that a proxy could read two ways (400), Host rules, versions (505),
deadlines for slow clients (408), a cap on public connections, and a lingering close after a
refusal. `http.serve` installs it as uvicorn's HTTP protocol; uvicorn does everything else.
"""

# Deadlines: a head must arrive within `head_timeout` of its first byte (or of the connection
# opening), a body within `idle_timeout` of its head; the server's tick sweeps them, so a request
# pays for a clock read, not for a timer. Between requests uvicorn's keep-alive timer applies.
# A refusal is answered once, after the answers owed to earlier pipelined requests, and then the
# connection lingers: it half-closes and reads (discarding) what the client still sends, because
# closing with unread input makes the kernel reset the connection, and a reset can destroy the
# refusal before the client has read it. (A 408 closes at once: that client is the slow one.)

from __future__ import annotations

import asyncio
import dataclasses
import http
import socket
import time
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Request line and headers together; real clients send well under 8 KiB, and the parser itself
# sets no limit, so without one a client could grow a worker's memory without ever sending a body.
MAX_HEAD_BYTES = 64 * 1024
# How long a refused connection may keep sending before it is closed regardless.
LINGER_SECONDS = 2.0
INTERNAL = "modelrollout.internal"  # the scope extension of requests on a worker's Unix socket

_HEAD_TOO_LARGE = b'{"error": "the request line and headers exceed 64 KiB; send smaller headers"}'
_VERSION = b'{"error": "only HTTP/1.0 and HTTP/1.1 are served here; send HTTP/1.1"}'
_UPGRADE = b'{"error": "protocol upgrades are not supported"}'
_TIMEOUT = b'{"error": "the request did not arrive in time; send it without pauses"}'


def _framing(what: str) -> bytes:
    return orjson.dumps(
        {
            "error": f"{what} cannot frame a request here; send the body with one Content-Length "
            "or with Transfer-Encoding: chunked alone"
        }
    )


def _hosts(count: int) -> bytes:
    return orjson.dumps(
        {"error": f"an HTTP/1.1 request needs exactly one Host header, not {count}; send one"}
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    max_body: int
    head_timeout: float = 10.0
    idle_timeout: float = 60.0
    max_connections: int = 4096  # public ones; a sibling's feedback query is never refused


class RefusedError(Exception):
    """Raised in a parser callback to stop parsing; the request is answered with `status`."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status, self.body = status, body


class Shared:
    """What the connections of one worker know of each other."""

    def __init__(self) -> None:
        self.public = 0  # open connections from clients, not from sibling workers
        self.draining = False


class _CycleTransport(asyncio.Transport):
    """What a request's cycle writes to: the connection's transport, with a response's head held
    until its body comes (one send, not two), and a close that lingers when request bytes may
    still be unread."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self._conn = conn
        self._head = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head:
            data, self._head = self._head + data, b""
        elif data[:9] == b"HTTP/1.1 " and data[9:12] != b"100":
            self._head = bytes(data)  # the cycle writes the body next, or finishes without one
            return
        self._conn.transport.write(data)

    def flush(self) -> None:
        if self._head:
            head, self._head = self._head, b""
            self._conn.transport.write(head)

    def is_closing(self) -> bool:
        return self._conn.closed or self._conn.transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._conn.close_after_response()


class Connection(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: Limits, shared: Shared, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._limits, self._shared = limits, shared
        self._cycle_transport = _CycleTransport(self)
        self._internal = False
        self._counted = False  # holds one of the public connections the cap allows
        self.closed = False  # refused or lingering: no more requests are read or answered
        self._refusal: tuple[int, bytes] | None = None  # waiting for earlier answers
        self._owed = 0  # requests handed to the app whose answer is not written yet
        self._deadline: float | None = None  # when the wait for the client's next bytes ends
        self._in_message = False
        # The head's size two ways: parsed lines (exact once a line ends) and raw bytes read while
        # the head is unfinished (catches a line that never ends, which the parser buffers).
        self._in_head = True  # no message yet, or the current one's headers are unfinished
        self._head_size = 0
        self._head_raw = 0
        self._heads_done = 0  # on_headers_complete calls, to tell whether a read ended a head
        self._hosts = 0  # Host lines in the current head
        self._chunked = False  # a Transfer-Encoding line in the current head
        self._linger: asyncio.TimerHandle | None = None

    # asyncio callbacks
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        self._internal = sock is not None and sock.family == socket.AF_UNIX
        if not self._internal:
            if self._shared.public >= self._limits.max_connections:
                # Past the cap a worker would trade every client's latency for one more: close
                # before reading, so the client retries, maybe on a less loaded worker.
                self.closed = True
                transport.close()
                return
            self._shared.public += 1
            self._counted = True
        self._deadline = time.monotonic() + self._limits.head_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._shared.public -= 1
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return  # lingering, or refused and waiting to answer: the input is discarded
        self._unset_keepalive_if_required()
        whole_read_is_head, heads_done = self._in_head, self._heads_done
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            refused = e.__context__
            if isinstance(refused, RefusedError):
                self._refuse(refused.status, refused.body)
            else:  # one of uvicorn's own callbacks found the request unreadable
                self._refuse(400, orjson.dumps({"error": f"malformed HTTP request: {e}"}))
            return
        except httptools.HttpParserError as e:
            self._refuse(400, orjson.dumps({"error": f"malformed HTTP request: {e}"}))
            return
        except httptools.HttpParserUpgrade:  # on_headers_complete refuses these first
            self._refuse(400, _UPGRADE)
            return
        if not self._in_head or self.closed:
            return
        if whole_read_is_head and heads_done == self._heads_done:
            self._head_raw += len(data)
        else:
            # This read finished one head and began the next: the new head's share of it is not
            # known, so it is counted from the next read on (the parsed lines still count now).
            self._head_raw = 0
        if max(self._head_raw, self._head_size) > MAX_HEAD_BYTES:
            self._refuse(431, _HEAD_TOO_LARGE)

    # httptools callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._internal:
            self.scope["extensions"] = {INTERNAL: {}}
        self._in_message = True
        if self._deadline is None:  # a new request on a kept-alive or pipelined connection
            self._deadline = time.monotonic() + self._limits.head_timeout
        self._head_size = self._hosts = 0
        self._chunked = False

    def on_url(self, url: bytes) -> None:
        self._grow_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow_head(len(name) + len(value) + 4)  # ": " and CRLF
        key = name.lower()
        if key == b"transfer-encoding":
            self._check_transfer_encoding(value.decode("latin-1"))
        elif key == b"host":
            self._hosts += 1
        super().on_header(name, value)

    def _check_transfer_encoding(self, value: str) -> None:
        # The parser already refuses Content-Length beside Transfer-Encoding, a bad or repeated
        # Content-Length, folded lines and bad chunk sizes. It takes codings it cannot decode when
        # chunked comes last, and a second Transfer-Encoding line: a proxy in front may read either
        # differently (RFC 9112 section 6.3), and only chunked is decoded here anyway.
        if self._chunked:
            raise RefusedError(400, _framing("more than one Transfer-Encoding header"))
        if value.strip().lower() != "chunked":
            raise RefusedError(400, _framing(f"Transfer-Encoding {value.strip()!r}"))
        self._chunked = True

    def _grow_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise RefusedError(431, _HEAD_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._heads_done += 1
        self._head_raw = 0
        self._deadline = time.monotonic() + self._limits.idle_timeout  # for the body
        version = self.parser.get_http_version()
        if version not in ("1.0", "1.1"):  # the parser also takes 0.9 (no version) and 2.0
            raise RefusedError(505, _VERSION)
        if self._chunked and version == "1.0":
            # RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
            raise RefusedError(400, _framing("Transfer-Encoding in an HTTP/1.0 request"))
        if self._hosts != 1 and version == "1.1":
            # RFC 9112 section 3.2: a proxy and this server could each read a different Host.
            raise RefusedError(400, _hosts(self._hosts))
        if self.parser.should_upgrade():
            raise RefusedError(400, _UPGRADE)
        self._in_head = False  # only now: a refusal above belongs to no cycle
        super().on_headers_complete()
        self._owed += 1
        self.cycle.transport = self._cycle_transport
        if self._shared.draining:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        self._in_message = False
        self._in_head = True
        self._deadline = None  # the app's time is not the client's
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._cycle_transport.flush()  # a HEAD answer, or one with an empty body
        self._owed -= 1
        if self.closed:
            if self._refusal is not None and not self._owed:
                self._write_refusal(*self._refusal)
            return
        super().on_response_complete()

    # refusals and closing
    def _refuse(self, status: int, body: bytes) -> None:
        self.closed = True
        if not self._in_head:
            # The refused request has a cycle of its own (its body was refused): it never answers.
            cycle = self.cycle
            cycle.disconnected = True
            cycle.message_event.set()
            if self.pipeline and self.pipeline[0][0] is cycle:
                self.pipeline.popleft()
            if not cycle.response_complete:
                self._owed -= 1
        if self._owed:  # earlier pipelined requests are answered first, in order
            self._refusal = (status, body)
            return
        self._write_refusal(status, body)

    def _write_refusal(self, status: int, body: bytes) -> None:
        self._refusal = None
        head = [b"HTTP/1.1 %d %s\r\n" % (status, http.HTTPStatus(status).phrase.encode())]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        if status == 408:
            # Lingering would give a client that is too slow the time its deadline took away.
            self.transport.close()
        else:
            self._start_lingering()

    def close_after_response(self) -> None:
        """The response said `connection: close`: close, lingering if a request is unread."""
        if self._in_message:
            self.closed = True
            self._start_lingering()
        else:
            self.transport.close()

    def _start_lingering(self) -> None:
        self._deadline = None
        self._unset_keepalive_if_required()
        if self.transport.is_closing():
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the client reads the answer, then sees the end
        self.flow.resume_reading()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def expire(self, now: float) -> None:
        """Close the connection if the client let its deadline pass."""
        if self._deadline is None or now < self._deadline or self.closed:
            return
        if self._in_message:
            self._refuse(408, _TIMEOUT)
        else:  # opened and never written to
            self.transport.close()

    def shutdown(self) -> None:
        """The worker drains: close when idle; a request under way is answered, then closed."""
        if self.closed:
            return
        if self._in_message and self._in_head:
            return  # its cycle does not exist yet; it is created with keep-alive off
        super().shutdown()
