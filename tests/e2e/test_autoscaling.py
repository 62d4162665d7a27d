"""spec.serving.autoscaling on the test bed: the real HPA controller owns the stable's replicas, the
operator never writes them, and a canary's pods follow the count the HPA gives the stable.

The HPA controller enforces its bounds (a raised minReplicas scales the stable), and the test
scales the stable through the scale subresource as the HPA does on load, without the load: real
load is in tests/integration/test_real_node_autoscaling.py."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e import support
from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _md(*, version: str, artifact: str, **scaling: Any) -> dict[str, Any]:
    md = support.model_deployment(
        name="iris",
        version=version,
        artifact=artifact,
        prometheus_url="",
        steps=[{"setWeight": 50}, {"pause": {}}],
    )
    md["spec"]["serving"] = {"replicas": 1, "resources": {"requests": {"cpu": "50m"}}}
    if scaling is not None:
        md["spec"]["serving"]["autoscaling"] = {
            "minReplicas": 1,
            "maxReplicas": 4,
            "targetCPU": 60,
            **scaling,
        }
    return md


def _replicas(testbed: Testbed, namespace: str) -> dict[str, int]:
    deps = testbed.get("deployments", "-n", namespace)["items"]
    return {d["metadata"]["name"].removeprefix("iris-"): d["spec"]["replicas"] for d in deps}


def _ready(testbed: Testbed, namespace: str) -> dict[str, int]:
    deps = testbed.get("deployments", "-n", namespace)["items"]
    return {
        d["metadata"]["name"].removeprefix("iris-"): (d.get("status") or {}).get("readyReplicas", 0)
        for d in deps
    }


def _hpa(testbed: Testbed, namespace: str) -> dict[str, Any] | None:
    items: list[dict[str, Any]] = testbed.get("hpa", "-n", namespace)["items"]
    return items[0] if items else None


def _replicas_owners(testbed: Testbed, namespace: str) -> set[str]:
    dep = testbed.get("deployment", "iris-stable", "-n", namespace, "--show-managed-fields")
    return {
        f"{e['manager']}/{e['operation']}"
        for e in dep["metadata"]["managedFields"]
        if "f:replicas" in (e.get("fieldsV1") or {}).get("f:spec", {})
    }


def _as_the_hpa_would(testbed: Testbed, namespace: str, replicas: int) -> None:
    testbed.kubectl("scale", "-n", namespace, "deployment/iris-stable", f"--replicas={replicas}")


def test_the_hpa_owns_the_stable_and_the_canary_follows_its_count(
    testbed: Testbed, namespace: str, operator: support.Operator
) -> None:
    support.apply(testbed, namespace, _md(version="1", artifact="iris-v1.skops"))
    support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)
    hpa = eventually(lambda: _hpa(testbed, namespace), timeout=30, what="the HPA")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "iris-stable"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    assert hpa["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    # Handed over: the operator's own apply no longer owns the count, so it never resets it.
    eventually(
        lambda: "model-rollout/Apply" not in _replicas_owners(testbed, namespace),
        timeout=30,
        what="spec.replicas handed over from the operator's apply",
    )

    # Load, as the HPA answers it: the stable goes to 2, and the operator leaves it there.
    _as_the_hpa_would(testbed, namespace, 2)
    time.sleep(12)  # two idle turns of the operator
    assert _replicas(testbed, namespace) == {"stable": 2}

    # A rollout: at 50% the canary matches the stable's current count, not spec.serving.replicas.
    support.apply(testbed, namespace, _md(version="2", artifact="iris-v2.skops"))
    eventually(
        lambda: support.status(testbed, namespace, "iris").get("phase") == "Paused",
        timeout=120,
        what="paused at 50%",
    )
    assert _replicas(testbed, namespace) == {"stable": 2, "canary": 2}

    # The HPA raises the stable during the rollout (a raised minimum: the real HPA controller
    # scales to its bounds without metrics); the canary follows, and the weight holds.
    support.apply(
        testbed,
        namespace,
        _md(version="2", artifact="iris-v2.skops", minReplicas=3),
    )
    eventually(
        lambda: _ready(testbed, namespace) == {"stable": 3, "canary": 3},
        timeout=120,
        what="the HPA to scale the stable to 3 and the canary to follow",
    )
    st = eventually(
        lambda: (
            (s := support.status(testbed, namespace, "iris")).get("actualCanaryWeight") == 50.0
            and s
        ),
        timeout=30,
        what="the actual share back at 50%",
    )
    assert st["canaryWeight"] == 50

    testbed.kubectl(
        "annotate", "-n", namespace, "md/iris", "modelrollout.io/promote=p1", "--overwrite"
    )
    st = support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)
    assert st["stableVersion"] == "2"
    eventually(
        lambda: _replicas(testbed, namespace) == {"stable": 3},
        timeout=60,
        what="the canary gone and the stable still at the HPA's 3",
    )

    # Autoscaling off: the HPA goes and spec.serving.replicas is the count again.
    manifest = _md(version="2", artifact="iris-v2.skops")
    del manifest["spec"]["serving"]["autoscaling"]
    support.apply(testbed, namespace, manifest)
    eventually(lambda: _hpa(testbed, namespace) is None, timeout=30, what="the HPA deleted")
    eventually(
        lambda: _replicas(testbed, namespace) == {"stable": 1},
        timeout=30,
        what="the stable back at spec.serving.replicas",
    )
