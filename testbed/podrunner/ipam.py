"""One loopback address per pod, out of a pool such as 127.1.0.0/16 (Linux routes 127/8 to lo).

Addresses are handed out round-robin so a freed one is not reused at once, as a real IPAM avoids.
"""

from __future__ import annotations

import ipaddress
import threading


class PoolExhaustedError(RuntimeError):
    pass


class IPPool:
    def __init__(self, network: str = "127.1.0.0/16") -> None:
        net = ipaddress.ip_network(network)
        if not net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
            raise ValueError(
                f"pod network {network} is not loopback: choose a range inside 127.0.0.0/8, "
                "which Linux routes to lo without adding addresses"
            )
        self._hosts = [str(ip) for ip in net.hosts()]
        self._host_set = frozenset(self._hosts)
        self._by_key: dict[str, str] = {}
        self._used: set[str] = set()
        self._cursor = 0
        self._lock = threading.Lock()

    def allocate(self, key: str, *, prefer: str | None = None) -> str:
        """The address of key: the one it already holds, else prefer if free and ours, else the next."""
        with self._lock:
            if key in self._by_key:
                return self._by_key[key]
            if prefer and prefer not in self._used and prefer in self._host_set:
                return self._take(key, prefer)
            for _ in range(len(self._hosts)):
                ip = self._hosts[self._cursor]
                self._cursor = (self._cursor + 1) % len(self._hosts)
                if ip not in self._used:
                    return self._take(key, ip)
            raise PoolExhaustedError(
                f"all {len(self._hosts)} pod addresses are in use; delete finished pods or widen --pod-network"
            )

    def release(self, key: str) -> None:
        with self._lock:
            ip = self._by_key.pop(key, None)
            if ip is not None:
                self._used.discard(ip)

    def address_of(self, key: str) -> str | None:
        with self._lock:
            return self._by_key.get(key)

    def _take(self, key: str, ip: str) -> str:
        self._by_key[key] = ip
        self._used.add(ip)
        return ip
