"""Choosing a router from spec.rollout.trafficRouting: explicit, never a silent fallback."""

from __future__ import annotations

import pytest

from modelrollout import api, traffic

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        (None, traffic.ReplicaRatioRouter),
        ({}, traffic.ReplicaRatioRouter),
        ({"replicaRatio": {}}, traffic.ReplicaRatioRouter),
        ({"gatewayAPI": {"httpRoute": "iris"}}, traffic.GatewayAPIRouter),
        ({"none": {}}, traffic.NoopRouter),
    ],
)
def test_the_router_is_chosen_by_the_sub_object_that_is_set(
    spec: dict[str, object] | None, kind: type
) -> None:
    parsed = None if spec is None else api.TrafficRouting.model_validate(spec)
    chosen = traffic.router_for(parsed)
    assert isinstance(chosen, kind)
    assert chosen.name in traffic.names()


def test_the_gateway_router_manages_the_named_route() -> None:
    chosen = traffic.router_for(
        api.TrafficRouting.model_validate({"gatewayAPI": {"httpRoute": "web"}})
    )
    assert isinstance(chosen, traffic.GatewayAPIRouter)
    assert chosen.http_route == "web"


def test_dynamic_stable_scale_off_keeps_the_stable_full() -> None:
    chosen = traffic.router_for(None, dynamic_stable_scale=False)
    plan = chosen.plan(replicas=4, weight=80, stable_ready=4, canary_ready=4)
    assert plan.stable_replicas == 4


def test_two_routers_at_once_are_an_error_naming_both() -> None:
    # The API model refuses this too; build it unchecked to prove the registry does not guess.
    spec = api.TrafficRouting.model_construct(
        replica_ratio=api.Empty(), gateway_api=api.GatewayAPIRouting(http_route="iris"), none=None
    )
    with pytest.raises(traffic.RouterError, match="replicaRatio and gatewayAPI: keep exactly one"):
        traffic.router_for(spec)


def test_a_routing_choice_without_a_router_here_is_an_error_not_a_fallback() -> None:
    class Future(api.TrafficRouting):
        istio: api.Empty | None = None

    spec = Future.model_construct(
        replica_ratio=None, gateway_api=None, none=None, istio=api.Empty()
    )
    with pytest.raises(
        traffic.RouterError,
        match=r"trafficRouting\.istio has no router.*replicaRatio, gatewayAPI, none",
    ):
        traffic.router_for(spec)
