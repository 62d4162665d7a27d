"""Asking a sibling worker, over its private Unix socket, to score feedback it holds the predictions for.

One short HTTP/1.1 exchange with `Connection: close`; a worker that is gone or slow counts as not
holding the id, so feedback never hangs on a dead sibling.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from modelrollout.serving import http

log = logging.getLogger("modelrollout.serving")
# Siblings answer from memory in microseconds; a second means the worker is stuck or restarting.
TIMEOUT_SECONDS = 1.0
INTERNAL_PATH = "/internal/feedback"


def socket_path(run_dir: Path, index: int) -> Path:
    return run_dir / f"worker-{index}.sock"


async def forward_feedback(sock: Path, body: bytes) -> http.Response | None:
    try:
        return await asyncio.wait_for(_post(sock, body), timeout=TIMEOUT_SECONDS)
    except (OSError, TimeoutError, ValueError) as e:
        log.warning("worker socket %s did not answer feedback: %s", sock, e)
        return None


async def _post(sock: Path, body: bytes) -> http.Response:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    try:
        writer.write(
            f"POST {INTERNAL_PATH} HTTP/1.1\r\nhost: worker\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError(f"malformed answer {raw[:80]!r}")
    return http.Response(int(status_line[1]), payload)
