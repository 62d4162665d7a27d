"""The test bed itself: a real API server serves CRDs, and Prometheus discovers and scrapes real pods."""

from __future__ import annotations

import ipaddress
import json
import textwrap

import pytest

from tests.e2e import support
from tests.testbed_client import Testbed, eventually

pytestmark = pytest.mark.integration

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.testbed.modelrollout.io"},
    "spec": {
        "group": "testbed.modelrollout.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {"size": {"type": "integer", "minimum": 1}},
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_a_crd_is_installed_served_and_its_schema_enforced(
    testbed: Testbed, namespace: str
) -> None:
    testbed.kubectl("apply", "-f", "-", input=json.dumps(WIDGET_CRD))
    testbed.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/widgets.testbed.modelrollout.io",
        "--timeout=30s",
    )
    good = {
        "apiVersion": "testbed.modelrollout.io/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3},
    }
    eventually(
        lambda: (
            testbed.kubectl(
                "apply", "-n", namespace, "-f", "-", input=json.dumps(good), check=False
            ).returncode
            == 0
        ),
        timeout=30,
        what="the Widget kind to be served",
    )
    assert testbed.get("widget", "w", "-n", namespace)["spec"]["size"] == 3
    bad = {**good, "metadata": {"name": "bad"}, "spec": {"size": 0}}
    refused = testbed.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(bad), check=False
    )
    assert refused.returncode != 0
    assert "spec.size" in refused.stderr


METRICS_SERVER = textwrap.dedent(
    """
    import os, time
    from prometheus_client import Counter, start_http_server
    Counter("testbed_probe", "set once at start", ["who"]).labels(who=os.environ["POD_NAME"]).inc(7)
    start_http_server(9100, addr=os.environ["POD_IP"])
    time.sleep(3600)
    """
)


def _metrics_pod(name: str, *, scrape: bool) -> dict[str, object]:
    annotations = {"prometheus.io/port": "9100"}
    if scrape:
        annotations["prometheus.io/scrape"] = "true"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "main",
                    "image": support.NODE_IMAGE,
                    "command": ["python", "-c", METRICS_SERVER],
                    "ports": [{"containerPort": 9100, "name": "metrics"}],
                    "env": [
                        {
                            "name": "POD_IP",
                            "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                        },
                        {
                            "name": "POD_NAME",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                        },
                    ],
                    "readinessProbe": {"tcpSocket": {"port": 9100}, "periodSeconds": 1},
                }
            ],
        },
    }


def test_prometheus_discovers_an_annotated_pod_and_its_series_appear(
    testbed: Testbed, namespace: str
) -> None:
    pods = [_metrics_pod("scraped", scrape=True), _metrics_pod("ignored", scrape=False)]
    testbed.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}),
    )
    testbed.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        "pod/scraped",
        "pod/ignored",
        "--timeout=60s",
    )

    def scraped() -> list[dict[str, object]]:
        return testbed.query(f'testbed_probe_total{{kubernetes_namespace="{namespace}"}}')

    result = eventually(scraped, timeout=60, what="the annotated pod's series in Prometheus")
    assert [r["metric"]["who"] for r in result] == ["scraped"]  # type: ignore[index]
    assert float(result[0]["value"][1]) == 7.0
    ip = ipaddress.ip_address(testbed.get("pod", "scraped", "-n", namespace)["status"]["podIP"])
    # Scraped at its own address on the node's bridge.
    assert ip in ipaddress.ip_network("10.244.0.0/16")
