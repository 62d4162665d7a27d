"""A small HTTP/1.1 server on asyncio and httptools, built for one job: answering inference fast.

Keep-alive, pipelining, chunked bodies, 100-continue, size limits, timeouts for slow clients,
and a drain on shutdown.
"""

# Handlers run inline on the event loop: inference is CPU-bound and short, so a task or a thread
# per request would only add latency. A handler may return an awaitable when it must wait on I/O.
# The drain lets every request already received finish while idle connections close.
# Timeouts are deadlines that one sweep per server checks a few times a second, so a request pays
# for a clock read, not for a timer: a head must arrive within `head_timeout` of its first byte
# (or of the connection opening), a body within `idle_timeout` of its head, and a connection with
# nothing to do is closed after `idle_timeout`.

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import functools
import http
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httptools
import orjson

_REASONS = {s.value: s.phrase for s in http.HTTPStatus}
# Request line and headers together; real clients send well under 8 KiB, and the parser itself
# sets no limit, so without one a client could grow a worker's memory without ever sending a body.
MAX_HEAD_BYTES = 64 * 1024
_HEAD_TOO_LARGE = b'{"error": "the request line and headers exceed 64 KiB; send smaller headers"}'


@dataclasses.dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    internal: bool = False  # arrived on a worker's private Unix socket
    oversize: bool = False  # the body passed the limit and was not read


@dataclasses.dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], "Response | Awaitable[Response]"]


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    max_body: int
    head_timeout: float = 10.0
    idle_timeout: float = 60.0
    max_connections: int = 4096  # public ones; a sibling's feedback query is never refused


def _framing(what: str) -> bytes:
    return orjson.dumps(
        {
            "error": f"{what} cannot frame a request here; send the body with one Content-Length "
            "or with Transfer-Encoding: chunked alone"
        }
    )


_VERSION = b'{"error": "only HTTP/1.0 and HTTP/1.1 are served here; send HTTP/1.1"}'


def _hosts(count: int) -> bytes:
    return orjson.dumps(
        {"error": f"an HTTP/1.1 request needs exactly one Host header, not {count}; send one"}
    )


class _RefusedError(Exception):
    """Raised in a parser callback to stop parsing; the request is answered with `status`."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status, self.body = status, body


class _Date:
    """The Date header, formatted once a second rather than once a request."""

    second = -1
    value = b""

    @classmethod
    def get(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second, cls.value = now, email.utils.formatdate(now, usegmt=True).encode()
        return cls.value


class Connections:
    """The open connections of one server, so that a drain can reach them all."""

    def __init__(self) -> None:
        self.open: set[HttpProtocol] = set()
        self.public = 0  # open connections from clients, not from sibling workers
        self.draining = False
        self.emptied = asyncio.Event()

    def drain(self) -> None:
        self.draining = True
        for conn in list(self.open):
            conn.close_if_idle()
        if not self.open:
            self.emptied.set()

    def expire(self) -> None:
        now = time.monotonic()
        for conn in list(self.open):
            conn.expire(now)


class HttpProtocol(asyncio.Protocol):
    def __init__(
        self, *, handler: Handler, conns: Connections, limits: Limits, internal: bool = False
    ) -> None:
        self._handler, self._conns, self._limits, self._internal = (
            handler, conns, limits, internal,
        )  # fmt: skip
        self._max_body = limits.max_body
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._in_message = False
        self._oversize = False
        self._queue: list[tuple[Request, bool]] = []
        self._busy = False
        self._closing = False
        # The head's size two ways: parsed lines (exact once a line ends) and raw bytes read while
        # the head is unfinished (catches a line that never ends, which the parser buffers).
        self._head_size = 0
        self._head_raw = 0
        self._in_head = True  # no message yet, or the current one's headers are unfinished
        self._heads_done = 0  # on_headers_complete calls, to tell whether a read ended a head
        self._deadline: float | None = None  # when the wait for the client's next bytes ends
        self._idle = False  # waiting between requests, not inside one
        self._counted = False  # holds one of the public connections the cap allows
        self._hosts = 0  # Host lines in the current head

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        if not self._internal:
            if self._conns.public >= self._limits.max_connections:
                # Past the cap a worker would trade every client's latency for one more: close
                # before reading, so the client retries, maybe on a less loaded worker.
                self._closing = True
                transport.close()
                return
            self._conns.public += 1
            self._counted = True
        self._conns.open.add(self)
        self._deadline = time.monotonic() + self._limits.head_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self._conns.open.discard(self)
        if self._counted:
            self._counted = False
            self._conns.public -= 1
        self._transport = None
        if self._conns.draining and not self._conns.open:
            self._conns.emptied.set()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._idle:  # the next request's first bytes: its head must now arrive in time
            self._idle = False
            self._deadline = time.monotonic() + self._limits.head_timeout
        whole_read_is_head = self._in_head
        heads_done = self._heads_done
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reply_and_close(400, b'{"error": "protocol upgrades are not supported"}')
            return
        except httptools.HttpParserCallbackError as e:
            refused = e.__context__
            if not isinstance(refused, _RefusedError):
                raise
            self._reply_and_close(refused.status, refused.body)
            return
        except httptools.HttpParserError as e:
            self._reply_and_close(400, orjson.dumps({"error": f"malformed HTTP request: {e}"}))
            return
        if not self._in_head or self._closing:
            return
        if whole_read_is_head and heads_done == self._heads_done:
            self._head_raw += len(data)
        else:
            # This read finished one head and began the next: the new head's share of it is not
            # known, so it is counted from the next read on (the parsed lines still count now).
            self._head_raw = 0
        if max(self._head_raw, self._head_size) > MAX_HEAD_BYTES:
            self._reply_and_close(431, _HEAD_TOO_LARGE)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._in_message = True
        if self._deadline is None:  # pipelined behind a request whose head was complete
            self._deadline = time.monotonic() + self._limits.head_timeout
        self._url, self._headers, self._body, self._size = b"", {}, [], 0
        self._oversize = False
        self._head_size = 0
        self._hosts = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._grow_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow_head(len(name) + len(value) + 4)  # ": " and CRLF
        key = name.decode("latin-1").lower()
        if key == "transfer-encoding":
            self._check_transfer_encoding(value.decode("latin-1"))
        elif key == "host":
            self._hosts += 1
        self._headers[key] = value.decode("latin-1")

    def _check_transfer_encoding(self, value: str) -> None:
        # The parser already refuses Content-Length beside Transfer-Encoding, a bad or repeated
        # Content-Length, folded lines and bad chunk sizes. It takes codings it cannot decode when
        # chunked comes last, and a second Transfer-Encoding line: a proxy in front may read either
        # differently (RFC 9112 section 6.3), and only chunked is decoded here anyway.
        if "transfer-encoding" in self._headers:
            raise _RefusedError(400, _framing("more than one Transfer-Encoding header"))
        if value.strip().lower() != "chunked":
            raise _RefusedError(400, _framing(f"Transfer-Encoding {value.strip()!r}"))

    def _grow_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise _RefusedError(431, _HEAD_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads_done += 1
        self._head_raw = 0
        self._deadline = time.monotonic() + self._limits.idle_timeout  # for the body
        version = self._parser.get_http_version()
        if version not in ("1.0", "1.1"):  # the parser also takes 0.9 (no version) and 2.0
            raise _RefusedError(505, _VERSION)
        if "transfer-encoding" in self._headers and version == "1.0":
            # RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
            raise _RefusedError(400, _framing("Transfer-Encoding in an HTTP/1.0 request"))
        if self._hosts != 1 and version == "1.1":
            # RFC 9112 section 3.2: a proxy and this server could each read a different Host.
            raise _RefusedError(400, _hosts(self._hosts))
        length = self._headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max_body:
            # Answer at once and stop reading: buffering the body is what the limit prevents.
            self._oversize = True
            self._finish_message()
            return
        if self._headers.get("expect", "").lower() == "100-continue" and self._transport:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._oversize:
            return
        self._size += len(body)
        if self._size > self._max_body:
            self._oversize = True
            self._finish_message()
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        if not self._oversize:
            self._finish_message()

    # request processing
    def _finish_message(self) -> None:
        self._in_message = False
        self._deadline = None  # the handler's time is not the client's
        raw = self._url.decode("latin-1")
        path = raw.split("?", 1)[0]
        request = Request(
            method=self._parser.get_method().decode("latin-1"),
            path=path,
            headers=self._headers,
            body=b"".join(self._body),
            internal=self._internal,
            oversize=self._oversize,
        )
        keep_alive = self._parser.should_keep_alive() and not self._oversize
        if self._oversize:
            self._closing = True  # the rest of the body is never parsed
        self._queue.append((request, keep_alive))
        if not self._busy:
            self._run_queue()

    def _run_queue(self) -> None:
        while self._queue and not self._busy:
            request, keep_alive = self._queue.pop(0)
            result = self._handler(request)
            if isinstance(result, Response):
                self._write(result, keep_alive)
                continue
            self._busy = True
            task = asyncio.ensure_future(result)
            task.add_done_callback(functools.partial(self._async_done, keep_alive=keep_alive))
            return

    def _async_done(self, task: asyncio.Future[Response], *, keep_alive: bool) -> None:
        self._busy = False
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            response = Response(500, b'{"error": "internal error while handling the request"}')
        else:
            response = task.result()
        self._write(response, keep_alive)
        self._run_queue()

    def _write(self, response: Response, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        close = not keep_alive or (self._conns.draining and not self._queue)
        head = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}\r\n".encode(),
            b"content-type: ", response.content_type.encode(), b"\r\ncontent-length: ",
            str(len(response.body)).encode(), b"\r\ndate: ", _Date.get(), b"\r\n",
        ]  # fmt: skip
        for name, value in response.headers:
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        if close:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        transport.write(b"".join(head) + response.body)
        if close:
            self._closing = True
            transport.close()
        elif not (self._in_message or self._queue):
            self._idle = True
            self._deadline = time.monotonic() + self._limits.idle_timeout

    def _reply_and_close(self, status: int, body: bytes) -> None:
        self._queue.clear()
        self._write(Response(status, body), keep_alive=False)

    def expire(self, now: float) -> None:
        """Close the connection if the client let its deadline pass."""
        if self._deadline is None or now < self._deadline or self._busy or self._queue:
            return  # a response on its way re-arms the deadline once written
        if self._in_message:
            self._reply_and_close(
                408,
                b'{"error": "the request did not arrive in time; send it without pauses"}',
            )
        elif self._transport is not None:  # idle, or opened and never written to
            self._closing = True
            self._transport.close()

    def close_if_idle(self) -> None:
        if not (self._in_message or self._busy or self._queue) and self._transport is not None:
            self._closing = True
            self._transport.close()


async def serve(
    *,
    handler: Handler,
    sockets: list[tuple[Any, bool]],
    limits: Limits,
    stop: asyncio.Event,
    drain_seconds: float,
    on_draining: Callable[[], None],
) -> None:
    """Serve `sockets` ([(socket, internal)]) until `stop` is set, then drain and return."""
    loop = asyncio.get_running_loop()
    conns = Connections()
    servers = []
    for sock, internal in sockets:
        factory = functools.partial(
            HttpProtocol, handler=handler, conns=conns, limits=limits, internal=internal
        )
        servers.append(await loop.create_server(factory, sock=sock, backlog=2048))
    # A quarter of the shortest timeout, so a deadline is kept within 25% (and at most 1 s).
    sweeper = asyncio.ensure_future(
        _sweep(conns, every=min(1.0, limits.head_timeout / 4, limits.idle_timeout / 4))
    )
    try:
        await _serve_until(servers=servers, conns=conns, stop=stop,
                           drain_seconds=drain_seconds, on_draining=on_draining)  # fmt: skip
    finally:
        sweeper.cancel()


async def _sweep(conns: Connections, *, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        conns.expire()


async def _serve_until(
    *,
    servers: list[asyncio.Server],
    conns: Connections,
    stop: asyncio.Event,
    drain_seconds: float,
    on_draining: Callable[[], None],
) -> None:
    await stop.wait()
    on_draining()
    for server in servers:
        server.close()
    conns.drain()
    try:
        await asyncio.wait_for(conns.emptied.wait(), timeout=drain_seconds)
    except TimeoutError:
        for conn in list(conns.open):
            if conn._transport is not None:
                conn._transport.abort()
