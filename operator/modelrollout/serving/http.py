"""The HTTP layer: uvicorn (httptools, on the worker's uvloop) serving the App through a thin ASGI
adapter, with `guard.Connection` as its protocol. Handlers see `Request` and return `Response`.
"""

# Handlers run in the request's task without a thread hop: inference is CPU-bound and short.
# A handler may return an awaitable when it must wait on I/O (feedback asked of a sibling).
# The body limit is kept here, where the body is read: a Content-Length past it is answered at once
# and the body never read; a chunked body is read until it passes the limit.

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

from modelrollout.serving import guard

log = logging.getLogger("modelrollout.serving")
Limits = guard.Limits  # the HTTP layer's limits, named where its callers look for them
# The server's tick (uvicorn's main loop wakes every 0.1 s) sweeps the connections' deadlines.
_TICK_SECONDS = 0.1
_INTERNAL_ERROR = b'{"error": "internal error while handling the request"}'


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
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def asgi(handler: Handler, *, max_body: int) -> Callable[..., Awaitable[None]]:
    """The ASGI application that hands each request to `handler`."""

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        read = await _read_body(receive, headers.get("content-length"), max_body=max_body)
        if read is None:
            return  # the client went away, or the connection refused the request itself
        request = Request(
            method=scope["method"],
            path=scope["raw_path"].decode("latin-1"),  # undecoded: %2F is not a path separator
            headers=headers,
            body=read[0],
            internal=guard.INTERNAL in scope.get("extensions", ()),
            oversize=read[1],
        )
        try:
            result = handler(request)
            response = result if isinstance(result, Response) else await result
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path[:200])
            response = Response(500, _INTERNAL_ERROR)
        out = [
            (b"content-type", response.content_type.encode()),
            (b"content-length", b"%d" % len(response.body)),
        ]
        out += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        if request.oversize:
            out.append((b"connection", b"close"))  # the rest of the body is never read
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        await send({"type": "http.response.body", "body": response.body})

    return app


async def _read_body(
    receive: Receive, length: str | None, *, max_body: int
) -> tuple[bytes, bool] | None:
    """(the body, whether it passed `max_body` and was left unread), or None on a disconnect."""
    if length is not None and length.isdigit() and int(length) > max_body:
        return b"", True  # answered at once: buffering the body is what the limit prevents
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), False


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, sweep_ticks: int) -> None:
        super().__init__(config)
        self._sweep_ticks = sweep_ticks

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the worker handles its signals itself and sets `should_exit`

    async def on_tick(self, counter: int) -> bool:
        if counter % self._sweep_ticks == 0:
            now = time.monotonic()
            for conn in list(self.server_state.connections):
                if isinstance(conn, guard.Connection):
                    conn.expire(now)
        return await super().on_tick(counter)


async def serve(
    *,
    handler: Handler,
    sockets: list[Any],
    limits: Limits,
    stop: asyncio.Event,
    drain_seconds: float,
    on_draining: Callable[[], None],
) -> None:
    """Serve `sockets` (TCP ones public, Unix ones a worker's private) until `stop` is set, then
    drain: requests already received finish within `drain_seconds` while idle connections close."""
    shared = guard.Shared()
    config = uvicorn.Config(
        app=asgi(handler, max_body=limits.max_body),
        http=functools.partial(guard.Connection, limits=limits, shared=shared),  # type: ignore[arg-type]
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(drain_seconds),
        backlog=2048,
    )
    config.timeout_keep_alive = limits.idle_timeout  # type: ignore[assignment] # a float works
    # Its start and stop lines would only repeat the worker's; its warnings still show.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    # A quarter of the shortest timeout, so a deadline is kept within 25% (and at most 1 s).
    every = min(1.0, limits.head_timeout / 4, limits.idle_timeout / 4)
    server = _Server(config, sweep_ticks=max(1, round(every / _TICK_SECONDS)))
    serving = asyncio.ensure_future(server.serve(sockets=sockets))
    waiting = asyncio.ensure_future(stop.wait())
    await asyncio.wait([serving, waiting], return_when=asyncio.FIRST_COMPLETED)
    if not serving.done():
        on_draining()
        shared.draining = True
        server.should_exit = True
    waiting.cancel()
    await serving
