"""Prometheus (built from its Go module), discovering pods through the test bed's API server and scraping those that ask.

A pod asks with the usual annotations: `prometheus.io/scrape: "true"`, `prometheus.io/port`, `prometheus.io/path`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from testbed import cluster, paths, procs

# Short intervals so that tests and the demo see a change within seconds, not minutes.
SCRAPE_INTERVAL = "2s"


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


def start(*, cluster_name: str, state: Path, port: int) -> None:
    binary = str(paths.binary("prometheus"))
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
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ],
    )
    procs.wait_for_port(
        host="127.0.0.1", port=port, timeout=30, what="Prometheus", log=state / "prometheus.log"
    )


def stop(*, state: Path) -> bool:
    return procs.stop(name="prometheus", state=state)
