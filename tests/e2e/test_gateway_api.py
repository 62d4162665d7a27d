"""The Gateway API router end to end on the test bed: the HTTPRoute's weights follow the steps.

The Gateway API CRDs are real (testbed/gateway_api.py) but no Gateway runs here, so what is proven is
the operator's side: it writes the route's backend weights, reads them back, and settles on them.
The bad version's canary gets requests straight to its per-track Service, as a Gateway would send it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import support
from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROUTING = {"gatewayAPI": {"httpRoute": "iris"}}


def _route(port: int = 8080) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "iris"},
        "spec": {
            "parentRefs": [{"name": "web"}],
            "rules": [{"backendRefs": [{"name": "iris-stable", "port": port}]}],
        },
    }


def _md(testbed: Testbed, **kw: Any) -> dict[str, Any]:
    manifest = support.model_deployment(name="iris", prometheus_url=testbed.prometheus_url, **kw)
    manifest["spec"]["rollout"]["trafficRouting"] = ROUTING
    return manifest


def _weights(testbed: Testbed, namespace: str) -> tuple[int, int]:
    route = testbed.get("httproute", "iris", "-n", namespace)
    refs = route["spec"]["rules"][0]["backendRefs"]
    by_name = {b["name"]: b.get("weight", 1) for b in refs}
    return by_name["iris-stable"], by_name.get("iris-canary", 0)


def _deploy_v1(testbed: Testbed, namespace: str, **kw: Any) -> None:
    support.apply(testbed, namespace, _route())
    support.apply(testbed, namespace, _md(testbed, version="1", artifact="iris-v1.skops", **kw))
    support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)


def test_the_route_weights_follow_each_step_and_the_new_version_is_promoted(
    testbed: Testbed, namespace: str, operator: support.Operator
) -> None:
    steps = [
        {"setWeight": 20},
        {"pause": {"duration": "3s"}},
        {"setWeight": 60},
        {"pause": {"duration": "3s"}},
    ]
    _deploy_v1(testbed, namespace, steps=steps)
    support.apply(
        testbed,
        namespace,
        _md(testbed, version="2", artifact="iris-v2.skops", steps=steps),
    )
    # requested weight -> every (route, actual in status) seen at it. Status and route
    # are two reads, so a look taken as a pause ends may straddle a step: one good look per weight
    # is the proof, not the last one.
    seen: dict[int, list[tuple[tuple[int, int], Any]]] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        st = support.status(testbed, namespace, "iris")
        weight = st.get("canaryWeight", 0)
        if weight and st.get("phase") in {"Paused", "Progressing"}:
            seen.setdefault(weight, []).append(
                (_weights(testbed, namespace), st.get("actualCanaryWeight"))
            )
        if st.get("stableVersion") == "2" or st.get("phase") in {"RolledBack", "Failed"}:
            break
        time.sleep(0.5)
    assert st["phase"] == "Healthy", st
    assert st["stableVersion"] == "2", st
    # At each weight, the route carries it and status reports the weight read off it.
    for w in (20, 60):
        assert w in seen, seen
        assert ((100 - w, w), w) in seen[w], seen
    eventually(
        lambda: _weights(testbed, namespace) == (100, 0),
        timeout=60,
        what="all traffic on the new stable",
    )
    eventually(
        lambda: (
            "iris-canary"
            not in {
                d["metadata"]["name"] for d in testbed.get("deployments", "-n", namespace)["items"]
            }
        ),
        timeout=60,
        what="the canary Deployment to go",
    )


def test_a_bad_version_is_rolled_back_and_the_route_returns_to_the_stable(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    accuracy = {"name": "accuracy", "min": 0.9, "interval": "30s"}
    steps = [{"setWeight": 50}, {"analysis": {}}]
    _deploy_v1(testbed, namespace, steps=steps, metrics=[accuracy])
    support.apply(
        testbed,
        namespace,
        _md(
            testbed,
            version="3",
            artifact="iris-online-flip.skops",
            steps=steps,
            metrics=[accuracy],
        ),
    )
    eventually(
        lambda: _weights(testbed, namespace) == (50, 50), timeout=120, what="the route at 50/50"
    )
    rows, truth = support.read_rows(models / "data" / "iris-online.csv", target="species")
    with support.traffic(testbed, namespace, rows=rows, truth=truth, service="iris-canary"):
        st = support.wait_phase(
            testbed, namespace, "iris", {"RolledBack", "Failed", "Healthy"}, timeout=240
        )
    assert st["phase"] == "RolledBack", st
    assert st["stableVersion"] == "1"
    assert st["history"][-1]["outcome"] == "RolledBack"
    assert _weights(testbed, namespace) == (100, 0)
    assert st.get("actualCanaryWeight") == 0, st
