"""The contract every router meets, whatever it routes with."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout import traffic

pytestmark = pytest.mark.unit

TARGET = traffic.Target(
    namespace="ml", stable_service="iris-stable", canary_service="iris-canary", port=8080
)
ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "iris", "namespace": "ml"},
    "spec": {"rules": [{"backendRefs": [{"name": "iris-stable", "port": 8080}]}]},
}

ROUTERS = [
    pytest.param(traffic.ReplicaRatioRouter(), id="replicaRatio"),
    pytest.param(traffic.ReplicaRatioRouter(shrink_stable=False), id="replicaRatio-fullStable"),
    pytest.param(traffic.GatewayAPIRouter(http_route="iris"), id="gatewayAPI"),
    pytest.param(traffic.NoopRouter(), id="none"),
]


REF = traffic.ObjectRef("gateway.networking.k8s.io/v1", "HTTPRoute", "ml", "iris")


def ref_of(obj: dict[str, Any]) -> traffic.ObjectRef:
    meta = obj["metadata"]
    return traffic.ObjectRef(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])


def settle(router: traffic.Router, *, replicas: int, weight: int) -> traffic.TrafficPlan:
    """Drive the cluster to the plan, as Deployments and the controller would, and return the last plan.

    Each round observes as the controller does: the objects the router names, and the weight it reads
    off them; so a router settles only on what it wrote and read back itself."""
    stable, canary = replicas, 0
    cluster: dict[traffic.ObjectRef, dict[str, Any]] = {REF: ROUTE}
    for _ in range(10):
        current = {ref: cluster[ref] for ref in router.objects_to_read(TARGET) if ref in cluster}
        plan = router.plan(
            replicas=replicas, weight=weight, stable_ready=stable, canary_ready=canary
        )
        routed = router.observed_weight(target=TARGET, current=current)
        if router.is_settled(plan, traffic.Readiness(stable, canary, canary_route_weight=routed)):
            return plan
        for obj in router.desired_objects(plan, target=TARGET, current=current):
            cluster[ref_of(obj)] = obj
        stable, canary = plan.stable_replicas, plan.canary_replicas
    raise AssertionError(f"{router.name} never settled at {weight}% of {replicas}")


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("weight", [0, 1, 30, 50, 99, 100])
def test_a_router_reads_back_the_weight_it_writes(router: traffic.Router, weight: int) -> None:
    plan = router.plan(replicas=4, weight=weight, stable_ready=4, canary_ready=4)
    current = {REF: ROUTE}
    written = {
        ref_of(obj): obj for obj in router.desired_objects(plan, target=TARGET, current=current)
    }
    assert router.observed_weight(target=TARGET, current={**current, **written}) == (
        plan.canary_route_weight
    )


@pytest.mark.parametrize("router", ROUTERS)
def test_a_router_satisfies_the_protocol_and_has_a_registered_name(router: traffic.Router) -> None:
    assert isinstance(router.name, str)
    assert router.name in traffic.names()


@pytest.mark.parametrize("router", ROUTERS)
@settings(deadline=None)  # timing varies on a busy CI machine; the property does not
@given(replicas=st.integers(1, 20), weight=st.integers(0, 100))
def test_every_router_settles_at_any_weight_keeping_a_stable_pod(
    router: traffic.Router, replicas: int, weight: int
) -> None:
    plan = settle(router, replicas=replicas, weight=weight)
    assert plan.stable_replicas >= 1
    assert not plan.held


@pytest.mark.parametrize("router", ROUTERS)
def test_weight_zero_sends_everything_to_the_stable(router: traffic.Router) -> None:
    plan = settle(router, replicas=4, weight=0)
    assert plan.stable_replicas == 4
    assert plan.canary_replicas == 0
    assert plan.actual_weight in {0.0, None}


@pytest.mark.parametrize("router", ROUTERS)
def test_no_router_gives_the_canary_traffic_before_a_canary_pod_is_ready(
    router: traffic.Router,
) -> None:
    plan = router.plan(replicas=4, weight=30, stable_ready=4, canary_ready=0)
    assert plan.actual_weight == 0.0
    if plan.canary_replicas:  # a router that runs canary pods waits for them to be ready
        assert not router.is_settled(plan, traffic.Readiness(4, 0, canary_route_weight=0))


@pytest.mark.parametrize("router", ROUTERS)
def test_every_router_refuses_an_impossible_weight(router: traffic.Router) -> None:
    with pytest.raises(traffic.RouterError):
        router.plan(replicas=4, weight=-1, stable_ready=4, canary_ready=0)
