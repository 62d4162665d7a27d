"""metrics-server on the real node's bed: a host process behind the v1beta1.metrics.k8s.io APIService.

Started by `python -m testbed up` after the node (testbed/__main__.py), stopped before it.
It scrapes the kubelet's /metrics/resource, so the HPA controller and `kubectl top` see real CPU.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

from testbed import cluster, node, node_config, paths, procs

NAME = "metrics-server"
NAMESPACE = "kube-system"
API_SERVICE = "v1beta1.metrics.k8s.io"
# It serves with the control plane's certificate, which names it as the aggregator dials it
# (cluster.METRICS_SERVER_DNS: <service>.<namespace>.svc).
# The shortest resolution metrics-server accepts: the HPA sees a new CPU figure every 10 s.
RESOLUTION = "10s"


def start(*, cluster_name: str, say: Callable[[str], None] = print) -> None:
    """Starts metrics-server on the node's address, registers the APIService, waits until it serves."""
    lay = node.layout(cluster_name)
    if procs.pid_of(name=NAME, state=lay.state) is None:
        port = procs.free_port(lay.node_ip)
        say(f"starting metrics-server on {lay.node_ip}:{port}")
        procs.start(name=NAME, state=lay.state, argv=_argv(cluster_name, lay=lay, port=port))
        procs.wait_for_port(
            host=lay.node_ip, port=port, timeout=30, what=NAME, log=lay.state / f"{NAME}.log"
        )
        _register(cluster_name, node_ip=lay.node_ip, port=port)
    _wait_available(cluster_name, timeout=90, log=str(lay.state / f"{NAME}.log"))


def stop(*, cluster_name: str, say: Callable[[str], None] = print) -> None:
    state = paths.state_dir(cluster_name) / "node"
    if procs.stop(name=NAME, state=state, grace=10):
        say(f"stopped {NAME}")


def running(cluster_name: str) -> int | None:
    return procs.pid_of(name=NAME, state=paths.state_dir(cluster_name) / "node")


def _argv(cluster_name: str, *, lay: node_config.Layout, port: int) -> list[str]:
    pki = paths.kwok_dir(cluster_name) / "pki"
    kubeconfig = str(paths.kubeconfig(cluster_name))
    return [
        str(paths.binary(NAME)),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={lay.node_ip}",
        f"--secure-port={port}",
        f"--tls-cert-file={pki / 'admin.crt'}",
        f"--tls-private-key-file={pki / 'admin.key'}",
        f"--metric-resolution={RESOLUTION}",
        # It must be below the resolution (metrics-server refuses to start otherwise).
        "--kubelet-request-timeout=5s",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        # The kubelet serves a self-signed certificate naming only its hostname (no
        # serverTLSBootstrap, no CSR approver here), which no CA verifies at its InternalIP.
        "--kubelet-insecure-tls",
        f"--cert-dir={lay.state / NAME}",
    ]


def _register(cluster_name: str, *, node_ip: str, port: int) -> None:
    # A Service without selector whose endpoint is the host process on the node's bridge address
    # (the API server refuses loopback endpoints); the aggregator dials it there directly
    # (--enable-aggregator-routing) and verifies it against the cluster's CA.
    ca = (paths.kwok_dir(cluster_name) / "pki" / "ca.crt").read_bytes()
    labels = {"app.kubernetes.io/name": NAME}
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
            "subsets": [
                {"addresses": [{"ip": node_ip}], "ports": [{"name": "https", "port": port}]}
            ],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": API_SERVICE, "labels": labels},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "service": {"name": NAME, "namespace": NAMESPACE, "port": 443},
                "caBundle": base64.b64encode(ca).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]
    cluster.apply(objects, cluster=cluster_name)


def _wait_available(cluster_name: str, *, timeout: float, log: str) -> None:
    deadline = time.monotonic() + timeout
    jsonpath = '{.status.conditions[?(@.type=="Available")]}'
    last = ""
    while time.monotonic() < deadline:
        last = cluster.kubectl(
            "get", "apiservice", API_SERVICE, "-o", f"jsonpath={jsonpath}",
            cluster=cluster_name, check=False,
        )  # fmt: skip
        if '"status":"True"' in last.replace(" ", ""):
            return
        time.sleep(1)
    raise TimeoutError(
        f"the APIService {API_SERVICE} was not Available within {timeout:.0f}s: {last}; see {log}"
    )
