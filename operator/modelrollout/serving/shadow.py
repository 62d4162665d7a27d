"""Shadowing: the stable server sends a sampled copy of its requests to the shadow version.

`Mirror` is called on the hot path only to drop a job into a bounded queue (never blocking: a full
queue drops the copy and counts it); one background thread per worker sends the copies, compares
the shadow's predictions with the stable's (agreement) and forwards ground truth for mirrored
request ids, so feedback scores the shadow's prediction of the same request. The share to mirror
is the one the shadow itself announces on GET /v2/shadow, polled by the same thread: outside a
shadow step nothing answers there and nothing is copied.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import socket
import sys
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import orjson

log = logging.getLogger("modelrollout.serving")

SHADOW_PATH = "/v2/shadow"
# Copies waiting to be sent, per worker. At a few kilobytes each this bounds the memory to a few
# megabytes; a shadow slower than the stable's load fills it and the excess is dropped.
QUEUE_SIZE = 1000
# Ids of mirrored requests remembered for their feedback (about 100 bytes each).
REMEMBERED_IDS = 100_000
# A shadow that takes longer than this for one request is too slow to judge on live traffic.
TIMEOUT_SECONDS = 2.0
# How often the thread asks the shadow what share it wants; a step's start or end is seen this late.
PROBE_SECONDS = 2.0
# The forwarding thread shares the GIL with the server's event loop; at CPython's default 5 ms
# switch interval, a request that arrives while the thread parses a shadow's answer waits up to
# 5 ms for the GIL. 0.5 ms hands it back sooner, at a little more switching (only in a stable that
# mirrors).
SWITCH_SECONDS = 0.0005


@dataclass(frozen=True)
class _Infer:
    request_id: str
    body: bytes
    labels: np.ndarray


@dataclass(frozen=True)
class _Feedback:
    body: bytes


class Counters(Protocol):
    """What the mirror reports; the server's Metrics implements it (mirrored, dropped, agreement)."""

    def mirrored(self) -> None: ...
    def dropped(self, reason: str) -> None: ...
    def agreement(self, *, agree: int, disagree: int) -> None: ...


class Mirror:
    """Copies requests to `url` (the shadow Service) from a background thread; see the module."""

    def __init__(
        self,
        *,
        url: str,
        model_name: str,
        counters: Counters,
        feedback_token: str | None = None,
        queue_size: int = QUEUE_SIZE,
        probe_seconds: float = PROBE_SECONDS,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"the shadow URL {url!r} must be http://host[:port]")
        self._host, self._port = parsed.hostname, parsed.port or 80
        self._infer_path = f"/v2/models/{model_name}/infer"
        self._feedback_path = f"/v2/models/{model_name}/feedback"
        self._counters = counters
        self._token = feedback_token
        self._probe_seconds = probe_seconds
        self._queue: queue.Queue[_Infer | _Feedback | None] = queue.Queue(maxsize=queue_size)
        self._ids: OrderedDict[str, None] = OrderedDict()  # touched by the server's loop only
        self._share = 0.0  # written by the thread, read by the loop: a float swap is atomic
        self._thread = threading.Thread(target=self._run, name="shadow-mirror", daemon=True)
        self._conn: _Connection | None = None

    def start(self) -> None:
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_SECONDS))
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

    @property
    def share(self) -> float:
        """The fraction of requests copied now (0 outside a shadow step)."""
        return self._share

    def offer_infer(self, *, request_id: str, body: bytes, labels: np.ndarray) -> None:
        """Queue a copy of one answered request, if sampled; never blocks."""
        share = self._share
        if share <= 0.0 or (share < 1.0 and random.random() >= share):  # noqa: S311 - sampling
            return
        if self._put(_Infer(request_id, body, labels)):
            self._ids[request_id] = None
            if len(self._ids) > REMEMBERED_IDS:
                self._ids.popitem(last=False)

    def offer_feedback(self, *, request_id: str, body: bytes) -> None:
        """Queue ground truth for a mirrored request, so the shadow scores its prediction too."""
        if self._ids.pop(request_id, 0) is None:
            self._put(_Feedback(body))

    def _put(self, job: _Infer | _Feedback) -> bool:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._counters.dropped("queue_full")
            return False
        return True

    def _run(self) -> None:
        next_probe = 0.0
        while True:
            now = time.monotonic()
            if now >= next_probe:
                self._share = self._probe()
                next_probe = now + self._probe_seconds
            try:
                job = self._queue.get(timeout=max(0.01, next_probe - time.monotonic()))
            except queue.Empty:
                continue
            if job is None:
                return
            try:
                if isinstance(job, _Infer):
                    self._send_infer(job)
                else:
                    self._post(self._feedback_path, job.body)
            except (OSError, ValueError, IndexError) as e:
                self._counters.dropped("error")
                log.debug("shadow copy failed: %s", e)
                self._close()

    def _probe(self) -> float:
        try:
            status, payload = self._request("GET", SHADOW_PATH, None)
            if status != 200:
                return 0.0
            percent = float(orjson.loads(payload).get("mirror", 0))
        except (OSError, ValueError, IndexError, AttributeError):
            self._close()
            return 0.0
        return min(max(percent, 0.0), 100.0) / 100.0

    def _send_infer(self, job: _Infer) -> None:
        # The body as the client sent it (no re-encoding on this thread, which shares the GIL with
        # the server), under the stable's id, so ground truth for it finds the shadow's prediction.
        # Its body id, if any, is that id already.
        status, payload = self._request(
            "POST", self._infer_path, job.body, request_id=job.request_id
        )
        if status != 200:
            raise ValueError(f"the shadow answered {status}")
        self._counters.mirrored()
        shadow = _labels(orjson.loads(payload))
        # Compared where the client asked for labels (the default); probabilities are not.
        if shadow is not None and len(shadow) == len(job.labels):
            agree = int(
                sum(str(a) == str(b) for a, b in zip(shadow, job.labels.tolist(), strict=True))
            )
            self._counters.agreement(agree=agree, disagree=len(shadow) - agree)

    def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return self._request("POST", path, body)

    def _request(
        self, method: str, path: str, body: bytes | None, *, request_id: str | None = None
    ) -> tuple[int, bytes]:
        headers = b"content-type: application/json\r\n"
        if request_id is not None:
            headers += b"x-request-id: %s\r\n" % request_id.encode()
        if self._token is not None:
            headers += b"authorization: Bearer %s\r\n" % self._token.encode()
        reused = self._conn is not None
        try:
            status, payload, keep = self._connection().request(method, path, body or b"", headers)
        except ConnectionError:
            if not reused:
                raise
            # The shadow closed an idle keep-alive connection: once more on a new one.
            self._close()
            status, payload, keep = self._connection().request(method, path, body or b"", headers)
        if not keep:
            self._close()
        return status, payload

    def _connection(self) -> _Connection:
        if self._conn is None:
            self._conn = _Connection(self._host, self._port, timeout=TIMEOUT_SECONDS)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Connection:
    """A keep-alive HTTP/1.1 connection to the shadow (our own server, which frames every answer
    with Content-Length). Not http.client: it parses headers with the email package, several times
    the cost of a whole copy, on the thread that shares the GIL with the stable's own requests."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._host = f"{host}:{port}".encode()
        self._buf = b""

    def request(
        self, method: str, path: str, body: bytes, headers: bytes
    ) -> tuple[int, bytes, bool]:
        """Status, body, and whether the connection may be used again."""
        head = b"%s %s HTTP/1.1\r\nhost: %s\r\ncontent-length: %d\r\n%s\r\n" % (
            method.encode(), path.encode(), self._host, len(body), headers,
        )  # fmt: skip
        self._sock.sendall(head + body)
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            self._recv()
        lines, self._buf = self._buf[:end].split(b"\r\n"), self._buf[end + 4 :]
        version, status_text = lines[0].split(b" ", 2)[:2]
        status = int(status_text)
        # HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told to keep.
        length, keep = None, version == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                keep = value == b"keep-alive" or (keep and value != b"close")
        if length is None:
            raise ValueError("the shadow's answer has no Content-Length")
        while len(self._buf) < length:
            self._recv()
        payload, self._buf = self._buf[:length], self._buf[length:]
        return status, payload, keep

    def _recv(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the shadow closed the connection")
        self._buf += chunk

    def close(self) -> None:
        self._sock.close()


def _labels(doc: Any) -> list[Any] | None:
    for output in doc.get("outputs") or []:
        if output.get("name") == "predict":
            data = output.get("data")
            return list(data) if isinstance(data, list) else None
    return None
