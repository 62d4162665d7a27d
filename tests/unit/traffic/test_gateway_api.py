"""The Gateway API router: exact weights on the user's HTTPRoute, only to ready canary pods."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout import traffic

pytestmark = pytest.mark.unit

TARGET = traffic.Target(
    namespace="ml", stable_service="iris-stable", canary_service="iris-canary", port=8080
)
REF = traffic.ObjectRef("gateway.networking.k8s.io/v1", "HTTPRoute", "ml", "iris")
SERVICES = [
    traffic.ObjectRef("v1", "Service", "ml", "iris-stable"),
    traffic.ObjectRef("v1", "Service", "ml", "iris-canary"),
]


def route(*rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "iris", "namespace": "ml", "resourceVersion": "7"},
        "spec": {
            "parentRefs": [{"name": "web"}],
            "rules": [
                {"matches": [{"path": {"value": f"/r{i}"}}], "backendRefs": r}
                for i, r in enumerate(rules)
            ],
        },
    }


STABLE_ONLY = [{"name": "iris-stable", "port": 8080}]


@pytest.mark.parametrize(
    ("weight", "canary_ready", "routed", "held"),
    [
        (0, 0, 0, False),
        (10, 0, 0, True),  # nothing ready: no request may go to the canary yet
        (10, 4, 10, False),
        (50, 2, 25, True),  # half the pods ready: half the weight, so each pod's load is as planned
        (50, 4, 50, False),
        (100, 4, 100, False),
        (100, 5, 100, False),
    ],
)
def test_the_route_weight_moves_only_with_ready_canary_pods(
    weight: int, canary_ready: int, routed: int, held: bool
) -> None:
    plan = traffic.GatewayAPIRouter(http_route="iris").plan(
        replicas=4, weight=weight, stable_ready=4, canary_ready=canary_ready
    )
    assert (plan.canary_route_weight, plan.actual_weight, plan.held) == (
        routed,
        float(routed),
        held,
    )


def test_replicas_are_left_alone_and_the_canary_runs_full_while_it_has_weight() -> None:
    router = traffic.GatewayAPIRouter(http_route="iris")
    assert router.plan(replicas=4, weight=10, stable_ready=4, canary_ready=0).canary_replicas == 4
    plan = router.plan(replicas=4, weight=90, stable_ready=4, canary_ready=4)
    assert (plan.stable_replicas, plan.canary_replicas) == (4, 4)
    assert router.plan(replicas=4, weight=0, stable_ready=4, canary_ready=4).canary_replicas == 0


def test_a_configured_canary_size_replaces_the_full_replicas() -> None:
    plan = traffic.GatewayAPIRouter(http_route="iris", canary_replicas=2).plan(
        replicas=6, weight=30, stable_ready=6, canary_ready=2
    )
    assert (plan.canary_replicas, plan.canary_route_weight) == (2, 30)


def test_a_canary_size_below_one_is_refused() -> None:
    with pytest.raises(traffic.RouterError, match="leave it unset"):
        traffic.GatewayAPIRouter(http_route="iris", canary_replicas=0)


def test_the_route_gets_the_canary_backend_beside_the_stable_in_each_rule_that_serves_it() -> None:
    other = [{"name": "docs", "port": 80}]
    current = route(STABLE_ONLY, other)
    before = copy.deepcopy(current)
    router = traffic.GatewayAPIRouter(http_route="iris")
    plan = router.plan(replicas=4, weight=30, stable_ready=4, canary_ready=4)
    [updated] = router.desired_objects(plan, target=TARGET, current={REF: current})
    assert updated["spec"]["rules"][0]["backendRefs"] == [
        {"name": "iris-stable", "port": 8080, "weight": 70},
        {"name": "iris-canary", "port": 8080, "weight": 30},
    ]
    assert updated["spec"]["rules"][1]["backendRefs"] == other
    assert updated["spec"]["parentRefs"] == [{"name": "web"}]
    assert updated["metadata"]["resourceVersion"] == "7"  # an update, guarded against races
    assert current == before  # the observed object is not modified


def test_an_existing_canary_backend_is_updated_not_duplicated() -> None:
    current = route([*STABLE_ONLY, {"name": "iris-canary", "port": 8080, "weight": 30}])
    router = traffic.GatewayAPIRouter(http_route="iris")
    plan = router.plan(replicas=4, weight=0, stable_ready=4, canary_ready=4)
    [updated] = router.desired_objects(plan, target=TARGET, current={REF: current})
    assert updated["spec"]["rules"][0]["backendRefs"] == [
        {"name": "iris-stable", "port": 8080, "weight": 100},
        {"name": "iris-canary", "port": 8080, "weight": 0},
    ]
    assert traffic.canary_share_of(updated, TARGET) == 0


def split(stable: int, canary: int) -> list[dict[str, Any]]:
    return [
        {"name": "iris-stable", "port": 8080, "weight": stable},
        {"name": "iris-canary", "port": 8080, "weight": canary},
    ]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([STABLE_ONLY], 0.0),  # a rule without the canary sends it nothing
        ([[*STABLE_ONLY, {"name": "iris-canary", "port": 8080}]], 50.0),  # both default to 1
        ([split(80, 20)] * 2, 20.0),
        ([split(1, 3)], 75.0),  # a share of the rule's weight, not the canary's raw weight
        ([split(80, 20), split(70, 30)], None),  # rules that disagree say no one weight
        ([split(0, 0)], None),  # the Gateway API answers 500 there, not 0%
        ([[*STABLE_ONLY, {"name": "iris-canary", "kind": "ServiceImport", "weight": 20}]], 0.0),
        ([[{"name": "docs"}]], None),  # no rule serves the stable
    ],
)
def test_the_observed_canary_share_is_read_back_from_the_route(
    rules: list[list[dict[str, Any]]], expected: float | None
) -> None:
    assert traffic.canary_share_of(route(*rules), TARGET) == expected


def observed(router: traffic.GatewayAPIRouter, current: dict[str, Any]) -> traffic.Readiness:
    """What the controller observes with every pod ready: the weight the router reads off the route."""
    weight = router.observed_weight(target=TARGET, current={REF: current})
    return traffic.Readiness(4, 4, canary_route_weight=weight)


def test_settled_once_the_route_carries_the_requested_weight() -> None:
    router = traffic.GatewayAPIRouter(http_route="iris")
    plan = router.plan(replicas=4, weight=30, stable_ready=4, canary_ready=4)
    assert router.observed_weight(target=TARGET, current={REF: route(split(70, 30))}) == 30
    assert router.is_settled(plan, observed(router, route(split(70, 30))))


@pytest.mark.parametrize("on_route", [split(100, 0), split(90, 10), split(50, 50), STABLE_ONLY])
def test_not_settled_while_the_route_carries_another_weight(on_route: list[dict[str, Any]]) -> None:
    router = traffic.GatewayAPIRouter(http_route="iris")
    plan = router.plan(replicas=4, weight=30, stable_ready=4, canary_ready=4)
    assert not router.is_settled(plan, observed(router, route(on_route)))


@pytest.mark.parametrize("on_route", [split(100, 0), STABLE_ONLY])
def test_a_rollback_settles_once_the_route_sends_everything_to_the_stable(
    on_route: list[dict[str, Any]],
) -> None:
    router = traffic.GatewayAPIRouter(http_route="iris")
    plan = router.plan(replicas=4, weight=0, stable_ready=4, canary_ready=4)
    assert router.is_settled(plan, observed(router, route(on_route)))
    assert not router.is_settled(plan, observed(router, route(split(50, 50))))


def test_without_the_route_there_is_no_weight_and_no_settling() -> None:
    router = traffic.GatewayAPIRouter(http_route="iris")
    plan = router.plan(replicas=4, weight=0, stable_ready=4, canary_ready=0)
    assert router.observed_weight(target=TARGET, current={}) is None
    assert not router.is_settled(plan, traffic.Readiness(4, 0, canary_route_weight=None))


def test_a_missing_route_says_which_and_how_to_fix_it() -> None:
    router = traffic.GatewayAPIRouter(http_route="iris")
    plan = router.plan(replicas=4, weight=30, stable_ready=4, canary_ready=4)
    assert router.objects_to_read(TARGET) == [REF, *SERVICES]
    with pytest.raises(traffic.RouterError, match=r"HTTPRoute ml/iris was not found.*iris-stable"):
        router.desired_objects(plan, target=TARGET, current={})


def test_a_route_without_the_stable_service_is_refused_rather_than_rewritten() -> None:
    router = traffic.GatewayAPIRouter(http_route="iris")
    plan = router.plan(replicas=4, weight=30, stable_ready=4, canary_ready=4)
    with pytest.raises(
        traffic.RouterError, match="no rule whose backendRefs include Service iris-stable"
    ):
        router.desired_objects(plan, target=TARGET, current={REF: route([{"name": "docs"}])})


@settings(deadline=None)  # timing varies on a busy CI machine; the property does not
@given(
    replicas=st.integers(1, 20),
    weight=st.integers(0, 100),
    canary_ready=st.integers(0, 25),
)
def test_the_routed_weight_never_exceeds_the_request_nor_the_ready_share_of_the_canary(
    replicas: int, weight: int, canary_ready: int
) -> None:
    plan = traffic.GatewayAPIRouter(http_route="iris").plan(
        replicas=replicas, weight=weight, stable_ready=replicas, canary_ready=canary_ready
    )
    routed = plan.canary_route_weight
    assert routed is not None
    assert 0 <= routed <= weight
    assert routed <= weight * canary_ready / max(plan.canary_replicas, 1) + 1e-9
    assert plan.held == (routed != weight)
    if canary_ready >= plan.canary_replicas:
        assert routed == weight


# -- shadow steps: the route's RequestMirror filter (issue 13) -----------------------------------

SHADOW_TARGET = traffic.Target(
    namespace="ml",
    stable_service="iris-stable",
    canary_service="iris-canary",
    port=8080,
    shadow_service="iris-shadow",
)
HEADER = {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x", "value": "1"}]}}  # fmt: skip
OTHER_MIRROR = {
    "type": "RequestMirror",
    "requestMirror": {"backendRef": {"name": "audit", "port": 80}, "percent": 5},
}


def shadow_plan(mirror: int) -> traffic.TrafficPlan:
    """A shadow step's plan as the controller makes it: weight 0, the step's mirror percent."""
    plan = traffic.GatewayAPIRouter(http_route="iris").plan(
        replicas=4, weight=0, stable_ready=4, canary_ready=2
    )
    return dataclasses.replace(plan, mirror_percent=mirror)


def desired(current: dict[str, Any], mirror: int) -> dict[str, Any]:
    router = traffic.GatewayAPIRouter(http_route="iris")
    [updated] = router.desired_objects(
        shadow_plan(mirror), target=SHADOW_TARGET, current={REF: current}
    )
    return updated


def ours(percent: int) -> dict[str, Any]:
    backend = {"group": "", "kind": "Service", "name": "iris-shadow", "port": 8080}
    return {"type": "RequestMirror", "requestMirror": {"backendRef": backend, "percent": percent}}


def test_the_gateway_router_mirrors_and_the_replica_routers_do_not() -> None:
    assert traffic.GatewayAPIRouter(http_route="iris").mirrors
    assert not traffic.ReplicaRatioRouter().mirrors
    assert not traffic.NoopRouter().mirrors


def test_a_shadow_step_adds_a_mirror_to_the_shadow_service_with_all_weight_on_the_stable() -> None:
    other = [{"name": "docs", "port": 80}]
    updated = desired(route(STABLE_ONLY, other), 30)
    rule, untouched = updated["spec"]["rules"]
    assert rule["filters"] == [ours(30)]
    assert rule["backendRefs"] == [
        {"name": "iris-stable", "port": 8080, "weight": 100},
        {"name": "iris-canary", "port": 8080, "weight": 0},
    ]
    assert "filters" not in untouched  # a rule that does not serve the stable is left alone
    assert traffic.canary_share_of(updated, SHADOW_TARGET) == 0


def test_the_users_filters_are_kept_in_their_order_and_ours_follows_them() -> None:
    current = route(STABLE_ONLY)
    current["spec"]["rules"][0]["filters"] = [HEADER, OTHER_MIRROR]
    updated = desired(current, 100)
    assert updated["spec"]["rules"][0]["filters"] == [HEADER, OTHER_MIRROR, ours(100)]
    assert current["spec"]["rules"][0]["filters"] == [HEADER, OTHER_MIRROR]  # not modified


@pytest.mark.parametrize("user_filters", [None, [], [HEADER], [HEADER, OTHER_MIRROR]])
def test_the_mirror_is_removed_when_the_step_ends_and_the_users_filters_stay(
    user_filters: list[dict[str, Any]] | None,
) -> None:
    current = route(STABLE_ONLY)
    if user_filters is not None:
        current["spec"]["rules"][0]["filters"] = copy.deepcopy(user_filters)
    before = copy.deepcopy(current["spec"]["rules"][0])
    during = desired(current, 40)
    after = desired(during, 0)
    rule = after["spec"]["rules"][0]
    # The rule reads as the user wrote it again (its backendRefs apart, which carry the weights;
    # an empty list of filters may come back left out, which the Gateway API reads the same).
    assert rule.get("filters") == (before.get("filters") or None)
    assert {k: v for k, v in rule.items() if k not in {"backendRefs", "filters"}} == {
        k: v for k, v in before.items() if k not in {"backendRefs", "filters"}
    }
    # Outside a shadow step a rule is not rewritten for its filters, an empty list included.
    assert desired(current, 0)["spec"]["rules"][0].get("filters", "absent") == before.get(
        "filters", "absent"
    )


def test_a_mirror_already_on_the_route_is_updated_not_duplicated() -> None:
    current = desired(route(STABLE_ONLY), 20)
    again = desired(current, 20)
    assert again == current  # an unchanged route is not written again
    assert desired(current, 50)["spec"]["rules"][0]["filters"] == [ours(50)]


def test_the_route_read_back_with_the_api_servers_defaults_compares_equal() -> None:
    """The API server fills in group and kind of every backendRef; what the router writes already
    carries them (its filter) or keeps them (the canary's ref), so the next turn writes nothing."""
    written = desired(route(STABLE_ONLY), 100)
    stored = copy.deepcopy(written)
    for b in stored["spec"]["rules"][0]["backendRefs"]:
        b.setdefault("group", "")
        b.setdefault("kind", "Service")
    assert desired(stored, 100) == stored


def test_a_mirror_to_a_shadow_service_of_another_namespace_is_the_users() -> None:
    theirs = copy.deepcopy(ours(10))
    theirs["requestMirror"]["backendRef"]["namespace"] = "elsewhere"
    current = route(STABLE_ONLY)
    current["spec"]["rules"][0]["filters"] = [theirs]
    assert desired(current, 0)["spec"]["rules"][0]["filters"] == [theirs]


def test_a_rule_with_the_most_filters_the_gateway_api_allows_is_refused_with_what_to_do() -> None:
    current = route(STABLE_ONLY)
    current["spec"]["rules"][0]["filters"] = [copy.deepcopy(OTHER_MIRROR) for _ in range(16)]
    with pytest.raises(traffic.RouterError, match=r"16 filters.*remove one of them"):
        desired(current, 10)
    assert (
        desired(current, 0)["spec"]["rules"][0]["filters"] == current["spec"]["rules"][0]["filters"]
    )
