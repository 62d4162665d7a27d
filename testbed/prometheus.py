"""Prometheus (built from its Go module), discovering pods through the test bed's API server and scraping those that ask.

A pod asks with the usual annotations: `prometheus.io/scrape: "true"`, `prometheus.io/port`, `prometheus.io/path`.
On a real node it also listens on the node's address, behind the Service `prometheus.monitoring`
(`publish`), so an operator in a pod reads it where a cluster's Prometheus usually is.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from testbed import cluster, paths, procs

# Short intervals so that tests and the demo see a change within seconds, not minutes.
SCRAPE_INTERVAL = "2s"
# Where pods find it on a real node: the address the example manifests name
# (spec.analysis.prometheus.address), a Service in front of the host process.
NAMESPACE = "monitoring"
SERVICE = "prometheus"
SERVICE_PORT = 9090
IN_CLUSTER_URL = f"http://{SERVICE}.{NAMESPACE}:{SERVICE_PORT}"


def scrape_dir(state: Path) -> Path:
    """Extra scrape jobs dropped here (one YAML file each) are read at start and on /-/reload."""
    return state / "scrape.d"


def config(*, cluster_name: str, state: Path | None = None) -> dict[str, object]:
    creds = cluster.admin_credentials(cluster_name)
    tls = {"ca_file": creds["ca"], "cert_file": creds["cert"], "key_file": creds["key"]}
    extra = {} if state is None else {"scrape_config_files": [str(scrape_dir(state) / "*.yml")]}
    return {
        **extra,
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": "1s",
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [
            {
                "job_name": "kubernetes-pods",
                # The model server labels its own series (model, version, track, namespace): keep them.
                "honor_labels": True,
                "kubernetes_sd_configs": [
                    {"role": "pod", "api_server": creds["server"], "tls_config": tls}
                ],
                "relabel_configs": [
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                        "regex": "true",
                        "action": "keep",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_phase"],
                        "regex": "Running",
                        "action": "keep",
                    },
                    {"source_labels": ["__meta_kubernetes_pod_ip"], "regex": "", "action": "drop"},
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
                        "regex": "(.+)",
                        "target_label": "__metrics_path__",
                    },
                    {
                        "source_labels": [
                            "__meta_kubernetes_pod_ip",
                            "__meta_kubernetes_pod_annotation_prometheus_io_port",
                        ],
                        "regex": "(.+);(\\d+)",
                        "replacement": "$1:$2",
                        "target_label": "__address__",
                    },
                    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                    {
                        "source_labels": ["__meta_kubernetes_namespace"],
                        "target_label": "kubernetes_namespace",
                    },
                ],
            }
        ],
    }


def start(*, cluster_name: str, state: Path, port: int, node_ip: str | None = None) -> None:
    """Starts Prometheus on 127.0.0.1:`port`, and on `node_ip`:`port` too when given (a real node)."""
    binary = str(paths.binary("prometheus"))
    # What `restart` needs to bring it back on the same addresses.
    (state / "prometheus-listen.json").write_text(json.dumps({"port": port, "node_ip": node_ip}))
    conf = state / "prometheus.yml"
    scrape_dir(state).mkdir(parents=True, exist_ok=True)
    conf.write_text(yaml.safe_dump(config(cluster_name=cluster_name, state=state), sort_keys=False))
    data = state / "prometheus-data"
    data.mkdir(parents=True, exist_ok=True)
    procs.start(
        name="prometheus",
        state=state,
        argv=[
            binary,
            f"--config.file={conf}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            # Pods cannot reach the host's loopback: they come through the node's bridge address.
            *([f"--web.listen-address={node_ip}:{port}"] if node_ip else []),
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ],
    )
    for host in ("127.0.0.1", *([node_ip] if node_ip else [])):
        procs.wait_for_port(
            host=host, port=port, timeout=30, what="Prometheus", log=state / "prometheus.log"
        )


def restart(*, cluster_name: str, state: Path) -> None:
    """Starts it again where it listened before (a test took it away); its data is kept."""
    listen = json.loads((state / "prometheus-listen.json").read_text())
    start(cluster_name=cluster_name, state=state, port=listen["port"], node_ip=listen["node_ip"])


def publish(*, cluster_name: str, node_ip: str, port: int) -> None:
    """Makes `prometheus.monitoring:9090` lead to the host process at `node_ip`:`port`.

    A Service without selector and an EndpointSlice of our own (the EndpointSlice controller leaves
    those alone); kube-proxy routes the ClusterIP to the node's address like any endpoint's.
    """
    labels = {"app.kubernetes.io/name": SERVICE, "app.kubernetes.io/part-of": "testbed"}
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": labels},
            "spec": {"ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": SERVICE,
                "namespace": NAMESPACE,
                "labels": {
                    **labels,
                    "kubernetes.io/service-name": SERVICE,
                    "endpointslice.kubernetes.io/managed-by": "testbed.modelrollout.io",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [node_ip], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        },
    ]
    cluster.apply(objects, cluster=cluster_name)


def stop(*, state: Path) -> bool:
    return procs.stop(name="prometheus", state=state)
