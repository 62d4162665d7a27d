"""Where the traffic generator may send: a Service's ClusterIP or its ready endpoints, and the guards.

On a real node the generator sends to the ClusterIP (`cluster_ip_endpoint`), which kube-proxy
routes from the host; only the test bed's Service range is allowed (`require_service_address`).
Under the pod runner:

kube-apiserver refuses loopback addresses in EndpointSlices and Endpoints ("may not be in the
loopback range"), so on the test bed, whose pods run on 127.x.y.z, a Service's slices stay empty
(or are never written). When its slices hold no ready endpoint, they are derived the way the
EndpointSlice controller derives them: pods matching the selector, Ready, not terminating,
targetPort resolved. Both are pure functions of the API's JSON; `ready_endpoints` does the reading.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import Any

from tests.e2e.traffic_stats import Endpoint

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# kube-apiserver's default --service-cluster-ip-range, which the test bed keeps (testbed/cluster.py):
# kube-proxy routes it on this machine only.
SERVICE_RANGE = ipaddress.ip_network("10.0.0.0/24")
SERVICE_LABEL = "kubernetes.io/service-name"


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


def endpoints_from_slices(
    slices: Iterable[Mapping[str, Any]], *, port_name: str | None = None
) -> list[Endpoint]:
    """Ready (ip, port) pairs of a Service's EndpointSlices, sorted; `port_name` picks a port."""
    found: set[Endpoint] = set()
    for s in slices:
        if s.get("addressType", "IPv4") != "IPv4":
            continue
        ports = [p for p in s.get("ports") or [] if port_name is None or p.get("name") == port_name]
        if not ports or ports[0].get("port") is None:
            continue
        port = int(ports[0]["port"])
        for endpoint in s.get("endpoints") or []:
            # The API says an unset `ready` means ready; terminating endpoints say false.
            if (endpoint.get("conditions") or {}).get("ready", True) is not False:
                found.update((address, port) for address in endpoint.get("addresses") or [])
    return sorted(found)


def endpoints_from_pods(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], *, port_name: str | None = None
) -> list[Endpoint]:
    """What the EndpointSlice controller would publish as ready for `service`, sorted."""
    spec = service.get("spec") or {}
    selector: Mapping[str, str] = spec.get("selector") or {}
    ports = [p for p in spec.get("ports") or [] if port_name is None or p.get("name") == port_name]
    if not selector or not ports:
        return []  # a Service without a selector has hand-made endpoints; none here
    target = ports[0].get("targetPort", ports[0].get("port"))
    found: set[Endpoint] = set()
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        labels = meta.get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()) or meta.get("deletionTimestamp"):
            continue
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        port = _container_port(pod, target)
        if ready and status.get("podIP") and port is not None:
            found.add((str(status["podIP"]), port))
    return sorted(found)


def _container_port(pod: Mapping[str, Any], target: Any) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for p in container.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return None


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


def ready_endpoints(
    api_client: Any, *, namespace: str, service: str, port_name: str | None = None
) -> list[Endpoint]:
    """The Service's ready endpoints: from its EndpointSlices, else from its pods."""
    from kubernetes import client

    # Raw JSON (not preloaded into models) is cheaper and keeps the API's camelCase names.
    def raw(response: Any) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(response.data)
        return doc

    slices = raw(
        client.DiscoveryV1Api(api_client).list_namespaced_endpoint_slice(
            namespace, label_selector=f"{SERVICE_LABEL}={service}",
            _preload_content=False, _request_timeout=10,
        )
    )["items"]  # fmt: skip
    found = endpoints_from_slices(slices, port_name=port_name)
    if found:
        return found
    core = client.CoreV1Api(api_client)
    svc = raw(
        core.read_namespaced_service(
            service, namespace, _preload_content=False, _request_timeout=10
        )
    )
    selector = ",".join(
        f"{k}={v}" for k, v in ((svc.get("spec") or {}).get("selector") or {}).items()
    )
    if not selector:
        return []
    pods = raw(
        core.list_namespaced_pod(
            namespace, label_selector=selector, _preload_content=False, _request_timeout=10
        )
    )["items"]
    return endpoints_from_pods(svc, pods, port_name=port_name)
