"""Listening sockets for the workers: each binds its own with SO_REUSEPORT and the kernel spreads
connections across them; the supervisor holds a bound, never-listening socket on the same address
so that a wrong host or a taken port fails once, before any worker starts.
"""

from __future__ import annotations

import socket
from pathlib import Path

BACKLOG = 2048


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, address[:2]  # type: ignore[return-value]


def _socket(host: str, port: int) -> tuple[socket.socket, tuple[str, int]]:
    family, address = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock, address


def reserve(host: str, port: int) -> socket.socket:
    """Bind without listening: it checks the address and receives no connections."""
    sock, address = _socket(host, port)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def listen_tcp(host: str, port: int) -> socket.socket:
    sock, address = _socket(host, port)
    sock.bind(address)
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def listen_unix(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock
