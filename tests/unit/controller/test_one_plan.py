"""Actions carry their values (issue 15): the router plans once per weight in a turn's decide step,
and what is applied is that plan's replicas and route weight, never a second plan made in act.

A router that records its plans and makes each one differ from the last tells them apart: a value
from any plan but the one the decide step chose shows up in the cluster."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest

from modelrollout import api, rollout, traffic
from modelrollout.controller import act, orders
from modelrollout.traffic import registry
from tests.unit.controller.cluster import NS, Bed, healthy, md
from tests.unit.controller.test_act import context
from tests.unit.controller.test_gateway_turns import GATEWAY, route_weights

pytestmark = pytest.mark.unit

Skew = Callable[[traffic.TrafficPlan, int], traffic.TrafficPlan]


@dataclasses.dataclass
class Recorder:
    """A router that records the weight of every plan it makes and skews plan number n (from 0) by
    `skew`, so that two plans of the same inputs in one turn give different values."""

    inner: traffic.Router
    skew: Skew
    weights: list[int] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def mirrors(self) -> bool:
        return self.inner.mirrors

    def plan(
        self, *, replicas: int, weight: int, stable_ready: int, canary_ready: int
    ) -> traffic.TrafficPlan:
        self.weights.append(weight)
        made = self.inner.plan(
            replicas=replicas, weight=weight, stable_ready=stable_ready, canary_ready=canary_ready
        )
        return self.skew(made, len(self.weights) - 1)

    def is_settled(self, plan: traffic.TrafficPlan, observed: traffic.Readiness) -> bool:
        return self.inner.is_settled(plan, observed)

    def objects_to_read(self, target: traffic.Target) -> list[traffic.ObjectRef]:
        return self.inner.objects_to_read(target)

    def observed_weight(
        self, *, target: traffic.Target, current: Mapping[traffic.ObjectRef, Mapping[str, Any]]
    ) -> float | None:
        return self.inner.observed_weight(target=target, current=current)

    def desired_objects(
        self,
        plan: traffic.TrafficPlan,
        *,
        target: traffic.Target,
        current: Mapping[traffic.ObjectRef, Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        return self.inner.desired_objects(plan, target=target, current=current)


def numbered(plan: traffic.TrafficPlan, n: int) -> traffic.TrafficPlan:
    """Replicas no router would plan, numbered by the plan: 10n+1 stable and 10n+3 canary pods."""
    return dataclasses.replace(plan, stable_replicas=10 * n + 1, canary_replicas=10 * n + 3)


def record(monkeypatch: pytest.MonkeyPatch, bed: Bed, skew: Skew = numbered) -> Recorder:
    """From now on the bed's turns route with a Recorder around the router its spec chooses."""
    spec = api.ModelDeploymentSpec.model_validate(bed.body["spec"])
    recorder = Recorder(registry.router_for(spec.rollout.traffic_routing), skew=skew)
    monkeypatch.setattr(registry, "router_for", lambda *_, **__: recorder)
    return recorder


def paused_at_25() -> Bed:
    bed = healthy("1")
    bed.change(version="2")
    bed.until("Paused")
    return bed


def test_a_turn_whose_weight_stays_plans_once_and_applies_that_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bed = paused_at_25()
    # Someone scales both tracks by hand: the turn writes the planned sizes back.
    for dep in ("iris-stable", "iris-canary"):
        bed.kube.obj("Deployment", NS, dep)["spec"]["replicas"] = 9
    recorder = record(monkeypatch, bed)
    bed.turn()
    assert recorder.weights == [25]
    # Plan 0's values; a second plan (in act, say) would have written 11 and 13.
    assert (bed.replicas("stable"), bed.replicas("canary")) == (1, 3)


def test_a_turn_that_moves_the_weight_plans_it_once_and_applies_the_new_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bed = healthy("1")
    bed.change(version="2")
    status = bed.turn()
    assert (status["phase"], status.get("canaryWeight", 0)) == ("Progressing", 0)
    recorder = record(monkeypatch, bed)
    status = bed.turn()
    assert status["canaryWeight"] == 25
    # One plan for the weight the brain was told about (0), one for the weight it set (25).
    assert recorder.weights == [0, 25]
    assert (bed.replicas("stable"), bed.replicas("canary")) == (11, 13)


def test_every_turn_of_a_rollout_plans_once_per_weight(monkeypatch: pytest.MonkeyPatch) -> None:
    bed = healthy("1", steps=[{"setWeight": 25}, {"setWeight": 50}, {"pause": {"duration": "1m"}}])
    recorder = record(monkeypatch, bed, skew=lambda plan, _: plan)
    bed.change(version="2")
    turns = 0
    while bed.body.get("status", {}).get("stableVersion") != "2":
        assert turns < 30, f"never promoted; status {bed.body.get('status')}"
        before = bed.body["status"].get("canaryWeight", 0)
        recorder.weights.clear()
        after = bed.turn(after=timedelta(seconds=31)).get("canaryWeight", 0)
        assert recorder.weights == ([before] if after == before else [before, after]), turns
        turns += 1


def test_the_route_carries_the_weight_of_the_plan_the_turn_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bed = healthy("1", rollout=GATEWAY, steps=[{"setWeight": 30}, {"pause": {}}])
    bed.change(version="2")
    bed.until("Paused")
    assert route_weights(bed) == (70, 30)

    def routed(plan: traffic.TrafficPlan, n: int) -> traffic.TrafficPlan:
        return dataclasses.replace(plan, canary_route_weight=40 + 5 * n)

    recorder = record(monkeypatch, bed, skew=routed)
    bed.turn()
    assert recorder.weights == [30]
    assert route_weights(bed) == (60, 40)  # plan 0; a second plan would have routed 45


# act alone: it applies the values the orders carry, whatever a router would have planned.

V2 = api.ModelSpec.model_validate(md("2")["spec"]["model"])


def test_act_writes_the_replicas_and_objects_the_orders_carry() -> None:
    ctx, _ = context(canary=True)
    route = copy_of_route()
    todo = (
        orders.RunTrack(track="canary", model=V2, replicas=7),
        orders.Route(stable_replicas=5, canary_replicas=7, services=("stable",), objects=(route,)),
    )
    writes = act.writes_for(ctx, todo)
    (canary,) = [
        w for w in writes if isinstance(w, act.Apply) and w.manifest["kind"] == "Deployment"
    ]
    assert canary.manifest["spec"]["replicas"] == 7
    # The stable, not run this turn, is scaled to the Route's size; the route is written as given.
    assert act.Scale(name="iris-stable", replicas=5) in writes
    assert act.Replace(route) in writes
    services = [w.manifest["metadata"]["name"] for w in writes if isinstance(w, act.Apply)
                if w.manifest["kind"] == "Service"]  # fmt: skip
    assert "iris-stable" in services
    assert "iris-canary" not in services


def copy_of_route() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"rules": [{"backendRefs": [{"name": "iris-stable", "port": 8080, "weight": 5}]}]},
    }


def test_a_track_ensured_without_a_weight_is_a_clear_error() -> None:
    ctx, _ = context()
    router = registry.router_for(None)
    seen = orders.plan(router, spec=ctx.spec, world=ctx.world, weight=0)
    with pytest.raises(ValueError, match="came without a SetWeight"):
        orders.resolve(
            (rollout.EnsureCanary(model=V2),),
            router=router,
            spec=ctx.spec,
            world=ctx.world,
            seen=seen,
        )


def test_a_shadow_s_pods_are_sized_in_the_orders_though_its_weight_is_0() -> None:
    ctx, _ = context()
    router = registry.router_for(None)
    seen = orders.plan(router, spec=ctx.spec, world=ctx.world, weight=0)
    actions = (rollout.EnsureCanary(model=V2), rollout.SetWeight(weight=0))
    todo = orders.resolve(
        actions, router=router, spec=ctx.spec, world=ctx.world, seen=seen, mirror=50
    )
    # Half of the stable's 2 pods' load is copied to it: 1 pod, on the track and on the route.
    assert todo[0] == orders.RunTrack(track="canary", model=V2, replicas=1)
    assert isinstance(todo[1], orders.Route)
    assert (todo[1].stable_replicas, todo[1].canary_replicas) == (2, 1)
