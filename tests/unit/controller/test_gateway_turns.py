"""Controller turns with the Gateway API router against the fake Kube: the route's weights follow
the steps, a step or a rollback settles only on what the route says, and the weight the router
reads off the route is the one status reports (issue 14, 0a; issue 15)."""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta

import pytest

from modelrollout import traffic
from modelrollout.traffic import gateway_api
from tests.unit.controller.cluster import NS, FixedProvider, FixedProviders, healthy

pytestmark = pytest.mark.unit

GATEWAY = {"trafficRouting": {"gatewayAPI": {"httpRoute": "web"}}}
TARGET = traffic.Target(
    namespace=NS, stable_service="iris-stable", canary_service="iris-canary", port=8080
)


def route_weights(bed: object) -> tuple[int, int]:
    route = bed.kube.obj("HTTPRoute", NS, "web")  # type: ignore[attr-defined]
    by_name = {b["name"]: b.get("weight", 1) for b in route["spec"]["rules"][0]["backendRefs"]}
    return by_name["iris-stable"], by_name.get("iris-canary", 0)


def test_the_route_weights_follow_each_step_and_the_new_version_is_promoted() -> None:
    bed = healthy("1", steps=[{"setWeight": 20}, {"setWeight": 60}], rollout=GATEWAY)
    bed.change(version="2")
    actual: dict[int, float] = {}  # requested weight -> the last actual weight status reported
    for _ in range(30):
        status = bed.turn()
        weight = status.get("canaryWeight", 0)
        if weight and route_weights(bed) == (100 - weight, weight):
            actual[weight] = status.get("actualCanaryWeight", -1)
        if status.get("phase") == "Healthy" and status.get("stableVersion") == "2":
            break
    else:
        raise AssertionError(f"never promoted; status {status}")
    # Each step's weight is on the route, and status reports what the route carries.
    assert actual == {20: 20.0, 60: 60.0, 100: 100.0}
    # Promoted: all traffic back on the stable Service, which now runs version 2.
    bed.turn()
    assert route_weights(bed) == (100, 0)
    # The router leaves replicas alone: both tracks ran at spec.serving.replicas.
    assert bed.replicas("stable") == 2


def test_a_rollback_settles_once_the_route_sends_everything_to_the_stable() -> None:
    bed = healthy("1", rollout=GATEWAY, steps=[{"setWeight": 30}, {"pause": {}}])
    bed.change(version="2")
    bed.until("Paused")
    assert route_weights(bed) == (70, 30)
    assert gateway_api.canary_share_of(bed.kube.obj("HTTPRoute", NS, "web"), TARGET) == 30
    bed.annotate("abort")
    phases = [bed.turn().get("phase") for _ in range(4)]
    assert "RolledBack" in phases, phases
    assert route_weights(bed) == (100, 0)


def test_unchanged_services_and_route_are_not_written_again() -> None:
    bed = healthy("1", rollout=GATEWAY, steps=[{"setWeight": 30}, {"pause": {}}])
    bed.change(version="2")
    bed.until("Paused")
    bed.turn()
    assert bed.kube.writes() == []


def test_status_reports_the_weight_the_route_carries_not_the_one_planned() -> None:
    """Someone edits the route back to 0%: status says 0, the step is not settled, and the
    route is written back from what this turn read of it."""
    bed = healthy("1", rollout=GATEWAY, steps=[{"setWeight": 30}, {"pause": {}}])
    bed.change(version="2")
    bed.until("Paused")
    route = copy.deepcopy(bed.kube.obj("HTTPRoute", NS, "web"))
    route["spec"]["rules"][0]["backendRefs"] = [
        {"name": "iris-stable", "port": 8080, "weight": 100},
        {"name": "iris-canary", "port": 8080, "weight": 0},
    ]
    bed.kube.put(route)
    status = bed.turn()
    assert status["actualCanaryWeight"] == 0.0
    assert status["canaryWeight"] == 30
    assert bed.writes() == [("replace", "HTTPRoute", "web")]
    assert route_weights(bed) == (70, 30)
    assert bed.turn()["actualCanaryWeight"] == 30.0


def test_a_step_waits_until_the_route_carries_its_weight() -> None:
    """The route is changed to a weight no step asked for: the next step does not start."""
    bed = healthy("1", rollout=GATEWAY, steps=[{"setWeight": 30}, {"setWeight": 60}, {"pause": {}}])
    bed.change(version="2")
    for _ in range(10):
        status = bed.turn()
        if status.get("canaryWeight") == 30:
            break
    assert status["currentStep"] == 0
    route = copy.deepcopy(bed.kube.obj("HTTPRoute", NS, "web"))
    route["spec"]["rules"][0]["backendRefs"] = [
        {"name": "iris-stable", "port": 8080, "weight": 95},
        {"name": "iris-canary", "port": 8080, "weight": 5},
    ]
    bed.kube.objects[("HTTPRoute", NS, "web")] = route
    bed.kube.replace = lambda manifest: None  # type: ignore[method-assign]  # a stuck write
    for _ in range(3):
        status = bed.turn()
    assert status["currentStep"] == 0
    assert status["actualCanaryWeight"] == 5.0


def test_a_missing_route_fails_the_turn_before_anything_is_written() -> None:
    bed = healthy("1", rollout=GATEWAY)
    bed.change(version="2")
    del bed.kube.objects[("HTTPRoute", NS, "web")]
    bed.kube.calls.clear()
    with pytest.raises(traffic.RouterError, match="HTTPRoute ml/web was not found"):
        bed.turn()
    assert bed.kube.writes() == []


# -- a shadow step under gatewayAPI: the Gateway mirrors, the stable does not (issue 13) ----------

SHADOW_ANALYSIS = {
    "prometheus": {"address": "http://prometheus:9090"},
    "interval": "30s",
    "inconclusiveLimit": 50,
    "metrics": [{"name": "accuracy", "min": 0.9}],
}


def route_filters(bed: object) -> list[dict[str, object]]:
    route = bed.kube.obj("HTTPRoute", NS, "web")  # type: ignore[attr-defined]
    filters: list[dict[str, object]] = route["spec"]["rules"][0].get("filters") or []
    return filters


def env_names(bed: object, track: str) -> set[str]:
    dep = bed.kube.obj("Deployment", NS, f"iris-{track}")  # type: ignore[attr-defined]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    return {e["name"] for e in container.get("env") or []}


def shadow_bed(value: float | None) -> object:
    bed = healthy("1", rollout=GATEWAY, steps=[{"setWeight": 100}])
    bed.providers = FixedProviders(FixedProvider(value_now=value))
    route = bed.kube.obj("HTTPRoute", NS, "web")
    route["spec"]["rules"][0]["filters"] = [copy.deepcopy(HEADER)]  # the user's own filter
    bed.change(
        version="2",
        analysis=SHADOW_ANALYSIS,
        rollout={
            **GATEWAY,
            "steps": [{"shadow": {"duration": "1m", "mirror": 40}}, {"setWeight": 50}],
        },
    )
    return bed


HEADER = {
    "type": "RequestHeaderModifier",
    "requestHeaderModifier": {"set": [{"name": "x-env", "value": "prod"}]},
}


def test_a_shadow_step_writes_the_mirror_on_the_route_and_leaves_the_stable_forwarding_off() -> (
    None
):
    bed = shadow_bed(0.95)
    for _ in range(6):
        status = bed.turn()
        if len(route_filters(bed)) == 2:
            break
    assert (status["canaryVersion"], status["canaryWeight"]) == ("2", 0), status
    assert route_weights(bed) == (100, 0)
    header, mirror = route_filters(bed)
    assert header == HEADER
    assert mirror == gateway_api.mirror_filter(
        percent=40, target=dataclasses.replace(TARGET, shadow_service="iris-shadow")
    )
    # The Gateway copies the requests: neither the stable forwards nor the canary asks for copies.
    assert "MODEL_ROLLOUT_SHADOW_URL" not in env_names(bed, "stable")
    assert "MODEL_ROLLOUT_MIRROR_PERCENT" not in env_names(bed, "canary")
    # The shadow Service the filter names selects the canary for the step.
    shadow = bed.kube.obj("Service", NS, "iris-shadow")
    assert shadow["spec"]["selector"]["modelrollout.io/track"] == "canary"
    bed.turn()
    assert bed.writes() == []  # no object written again while the step runs
    # The step passes on good values; the next step takes the mirror off and moves weight.
    status = bed.until("Healthy", turns=30, after=timedelta(seconds=31))
    assert status["stableVersion"] == "2"
    assert route_filters(bed) == [HEADER]


def test_a_failing_shadow_is_rolled_back_and_the_mirror_taken_off_the_route() -> None:
    bed = shadow_bed(0.5)
    bed.until("Progressing")
    assert len(route_filters(bed)) == 2
    phases = [bed.turn(after=timedelta(seconds=31)).get("phase") for _ in range(8)]
    assert "RolledBack" in phases, phases
    assert route_filters(bed) == [HEADER]
    assert route_weights(bed) == (100, 0)


def test_under_replica_ratio_the_stable_forwards_the_copies_itself() -> None:
    """The contrast: without a router that mirrors, the stable's pods copy to the shadow Service."""
    bed = healthy("1", steps=[{"setWeight": 100}])
    bed.providers = FixedProviders(FixedProvider(value_now=0.95))
    bed.change(
        version="2",
        analysis=SHADOW_ANALYSIS,
        rollout={"steps": [{"shadow": {"duration": "1m", "mirror": 40}}, {"setWeight": 50}]},
    )
    bed.until("Progressing")
    bed.turn()
    assert "MODEL_ROLLOUT_SHADOW_URL" in env_names(bed, "stable")
    assert "MODEL_ROLLOUT_MIRROR_PERCENT" in env_names(bed, "canary")
