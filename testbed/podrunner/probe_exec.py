"""Runs one probe for real against a container: httpGet, tcpSocket, or exec in its mount namespace."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    pod_ip: str
    ports: Sequence[Mapping[str, Any]]  # the container's `ports`, to resolve named ports
    env: Mapping[str, str]
    pid: int


def run(handler: Mapping[str, Any], *, target: Target, timeout: float) -> tuple[bool, str]:
    """(success, what happened); never raises for a failing container."""
    try:
        if "httpGet" in handler:
            return _http(handler["httpGet"], target=target, timeout=timeout)
        if "tcpSocket" in handler:
            return _tcp(handler["tcpSocket"], target=target, timeout=timeout)
        if "exec" in handler:
            return _exec(handler["exec"], target=target, timeout=timeout)
    except Exception as e:
        # Whatever goes wrong, the probe fails; it never ends its thread.
        return False, f"{type(e).__name__}: {e}"
    return (
        False,
        f"probe handler {sorted(handler)} is not supported by the test bed (use httpGet, tcpSocket or exec)",
    )


def port_number(port: int | str, ports: Sequence[Mapping[str, Any]]) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in ports:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(
        f"probe names port {port!r}, but the container declares no containerPort with that name"
    )


def _http(get: Mapping[str, Any], *, target: Target, timeout: float) -> tuple[bool, str]:
    host = get.get("host") or target.pod_ip
    port = port_number(get.get("port", 80), target.ports)
    conn: http.client.HTTPConnection
    if str(get.get("scheme", "HTTP")).upper() == "HTTPS":
        # The kubelet does not verify a probe's certificate either.
        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl._create_unverified_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"User-Agent": "kube-probe/1.36", "Accept": "*/*"}
        headers |= {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
        conn.request("GET", get.get("path") or "/", headers=headers)
        code = conn.getresponse().status
    finally:
        conn.close()
    return 200 <= code < 400, f"HTTP probe to {host}:{port}{get.get('path') or '/'} answered {code}"


def _tcp(tcp: Mapping[str, Any], *, target: Target, timeout: float) -> tuple[bool, str]:
    host = tcp.get("host") or target.pod_ip
    port = port_number(tcp["port"], target.ports)
    with socket.create_connection((host, port), timeout=timeout):
        return True, f"TCP probe connected to {host}:{port}"


def _exec(ex: Mapping[str, Any], *, target: Target, timeout: float) -> tuple[bool, str]:
    command = list(ex.get("command") or [])
    if not command:
        return False, "exec probe has an empty command"
    # Enter the container's mount namespace and working directory (--wd: the process's own), so the
    # probe sees the same files the container does.
    argv = ["nsenter", f"--target={target.pid}", "--mount", "--wd", "--", *command]
    try:
        done = subprocess.run(
            argv, env=dict(target.env), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"exec probe {command} timed out after {timeout:g}s"
    out = (done.stdout + done.stderr).decode(errors="replace")[-1024:]
    return done.returncode == 0, f"exec probe {command} exited {done.returncode}: {out}"
