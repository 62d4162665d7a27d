"""A shadow step under the Gateway API router end to end: the operator writes the route's RequestMirror
filter, the Gateway copies the requests (and their feedback) to the shadow, the stable copies none,
and a worse shadow is rolled back having answered no client, the filter taken off (issue 13).

No Gateway implementation runs on the test bed, so the test plays one (tests/e2e/gateway_player.py):
it reads the HTTPRoute the operator writes, sends clients' requests by its weights and the mirrored
copies to the filter's backendRef, and throws the copies' answers away. The route, the Services, the
serving pods and Prometheus are real; examples/iris-shadow-gateway.yaml with this bed's models,
Prometheus and shorter intervals.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import support
from tests.e2e.gateway_player import GatewayPlayer, Look
from tests.e2e.traffic import TrafficGenerator
from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

EXAMPLE = support.REPO / "examples" / "iris-shadow-gateway.yaml"


def manifests(
    testbed: Testbed, models: Path, *, version: str, artifact: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The example's HTTPRoute and ModelDeployment, pointed at this bed."""
    route, md = support.shadow_example(EXAMPLE, testbed, version=version, artifact=artifact)
    return route, md


def shadow_series(testbed: Testbed, namespace: str, expr: str) -> float:
    # max_over_time: a scaled-down pod's series goes stale, its count should not vanish with it.
    return sum(
        float(s["value"][1])
        for s in testbed.query(f"sum(max_over_time({expr}[10m]))".replace("NS", namespace))
    )


def server_env(testbed: Testbed, namespace: str, track: str) -> set[str]:
    dep = testbed.get("deployment", f"iris-{track}", "-n", namespace)
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    return {e["name"] for e in container.get("env") or []}


def test_a_worse_shadow_behind_a_gateway_is_rolled_back_and_the_mirror_taken_off(
    testbed: Testbed, namespace: str, operator: support.Operator, models: Path
) -> None:
    route, v1 = manifests(testbed, models, version="1", artifact="iris-v1.skops")
    user_filter = route["spec"]["rules"][0]["filters"][0]
    support.apply(testbed, namespace, route)
    support.apply(testbed, namespace, v1)
    support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)
    rows, truth = support.read_rows(models / "data" / "iris-test.csv", target="species")
    gateway = GatewayPlayer(testbed.api_client(), namespace=namespace, route="iris")
    with (
        gateway,
        TrafficGenerator(
            None,
            namespace=namespace,
            service="gateway",
            model="iris",
            rows=rows,
            truth=truth,
            rate_per_s=20,
            seed=17,
            endpoints=[gateway.endpoint],
        ) as gen,
    ):
        _, v2 = manifests(testbed, models, version="2", artifact="iris-inaccurate.skops")
        support.apply(testbed, namespace, v2)
        eventually(
            lambda: any(look.mirrors() for look in gateway.looks),
            timeout=120,
            what="the operator to put a RequestMirror filter on the route",
        )
        # The Gateway copies; the stable forwards nothing itself, nor does the shadow ask it to.
        assert "MODEL_ROLLOUT_SHADOW_URL" not in server_env(testbed, namespace, "stable")
        assert "MODEL_ROLLOUT_MIRROR_PERCENT" not in server_env(testbed, namespace, "canary")
        st = support.wait_phase(
            testbed, namespace, "iris", {"Promoting", "Healthy", "RolledBack", "Failed"},
            timeout=300,
        )  # fmt: skip
        # Traffic goes on a little: the filter must be gone from the route, and copies stop.
        eventually(
            lambda: not gateway.looks[-1].mirrors(),
            timeout=30,
            what="the mirror filter to come off the route",
        )
        time.sleep(8)  # two scrapes of the last copies
        answered = dict(gen.stats().by_version)
        copies = gateway.counts()
        shadow_answers = shadow_series(
            testbed,
            namespace,
            'model_requests_total{namespace="NS",track="canary",version="2",code="200"}',
        )
        shadow_scored = shadow_series(
            testbed, namespace, 'model_feedback_total{namespace="NS",track="canary"}'
        )
        stable_copied = shadow_series(
            testbed, namespace, 'model_shadow_mirrored_total{namespace="NS",track="stable"}'
        )
    print(
        f"\nGATEWAY-SHADOW {st.get('phase')}: client answers {answered}, copies {copies}, "
        f"copies failed {dict(gateway.copy_failures)}, shadow answered {shadow_answers:.0f} and "
        f"scored {shadow_scored:.0f}, stable copied {stable_copied:.0f}, route versions while "
        f"mirroring {sorted({look.resource_version for look in gateway.looks if look.mirrors()})}"
    )
    assert st["phase"] in {"RolledBack", "Failed"}, st
    assert "AnalysisFailed" in {h["reason"] for h in st.get("history", [])} | {
        c.get("reason") for c in st.get("conditions", [])
    }, st
    # No client was answered by the shadow; the stable answered them all.
    assert answered.get("2", 0) == 0, answered
    assert answered.get("1", 0) > 100, answered
    assert set(gateway.answered) == {"iris-stable"}, gateway.answered

    with_mirror = [look for look in gateway.looks if look.mirrors()]
    (mirror,) = with_mirror[0].mirrors()
    assert mirror["requestMirror"] == {
        "backendRef": {"group": "", "kind": "Service", "name": "iris-shadow", "port": 8080},
        "percent": 100,
    }
    for look in with_mirror:
        # All the weight on the stable while it mirrors, the user's filter kept before ours.
        assert look.weights == {"iris-stable": 100, "iris-canary": 0}, look
        assert look.filters[0] == user_filter, look
    # The route is not rewritten each turn while nothing changes (the server's defaults read back
    # equal): one write put the filter on, none followed until the step ended.
    assert len({look.resource_version for look in with_mirror}) <= 2, _versions(with_mirror)
    after = testbed.get("httproute", "iris", "-n", namespace)["spec"]["rules"][0]
    assert after["filters"] == [user_filter], after
    assert {b["name"]: b.get("weight") for b in after["backendRefs"]}["iris-stable"] == 100

    # Judged on real copies, each copied once: by the Gateway, never by the stable too.
    infer_copies = copies.get("iris-shadow infer", 0)
    assert infer_copies > 50, copies
    assert 0.8 * infer_copies <= shadow_answers <= infer_copies, (shadow_answers, copies)
    assert stable_copied == 0, stable_copied
    # The ground truth reached the shadow through the mirror and scored its own predictions.
    assert copies.get("iris-shadow feedback", 0) > 20, copies
    assert shadow_scored > 20, shadow_scored


def _versions(looks: list[Look]) -> list[tuple[float, str]]:
    return [(round(look.at, 1), look.resource_version) for look in looks]
