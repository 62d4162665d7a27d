"""Where the traffic generator may send: a Service's ClusterIP, which kube-proxy routes from the
host, and nowhere outside the test bed's Service range (`require_service_address`); loopback only
for a fixed list of endpoints (`require_loopback`, the generator's own tests).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from tests.e2e.traffic_stats import Endpoint

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# kube-apiserver's default --service-cluster-ip-range, which the test bed keeps (testbed/cluster.py):
# kube-proxy routes it on this machine only.
SERVICE_RANGE = ipaddress.ip_network("10.0.0.0/24")


class NotLoopbackError(AssertionError):
    """An address outside where the generator may send (loopback, or the bed's ClusterIPs): it
    refuses to send anywhere but this machine."""


def _require_in(host: str, network: ipaddress.IPv4Network, *, where: str) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError as e:
        raise NotLoopbackError(
            f"{host!r} is not an IP address; traffic goes to {where} only"
        ) from e
    if address not in network:
        raise NotLoopbackError(f"{host} is outside {network}; traffic goes to {where} only")


def require_loopback(host: str) -> None:
    _require_in(host, LOOPBACK, where="loopback (127.x.y.z)")


def require_service_address(host: str) -> None:
    _require_in(host, SERVICE_RANGE, where="the test bed's ClusterIPs (its Service range)")


def service_port(service: Mapping[str, Any], *, port_name: str | None = None) -> Endpoint | None:
    """The Service's (ClusterIP, port), `port_name` picking the port; None without a ClusterIP."""
    spec = service.get("spec") or {}
    ports = [p for p in spec.get("ports") or [] if port_name is None or p.get("name") == port_name]
    ip = spec.get("clusterIP")
    if not ports or not ip or ip == "None":
        return None
    return str(ip), int(ports[0]["port"])


def cluster_ip_endpoint(
    api_client: Any, *, namespace: str, service: str, port_name: str | None = None
) -> Endpoint:
    """The Service's (ClusterIP, port), read from the API; a headless or portless one is an error."""
    from kubernetes import client

    svc = json.loads(
        client.CoreV1Api(api_client)
        .read_namespaced_service(service, namespace, _preload_content=False, _request_timeout=10)
        .data
    )
    found = service_port(svc, port_name=port_name)
    if found is None:
        raise LookupError(
            f"Service {namespace}/{service} has no ClusterIP or no port {port_name or ''}: "
            "nothing to send to"
        )
    return found
