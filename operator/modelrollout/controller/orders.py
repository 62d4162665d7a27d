"""The brain's actions with the values that carry them out: each track's replicas, the stable's count
under an HPA and the routing objects, from one router plan per weight. Made in reconcile's decide
step; act applies them as they are and computes none of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from modelrollout import api, rollout
from modelrollout.controller import autoscale, observe, shadowing
from modelrollout.k8s import autoscaling, names
from modelrollout.traffic import router as traffic_router


@dataclass(frozen=True)
class RunTrack:
    """A track's Deployment runs `model` (EnsureStable, EnsureCanary) at `replicas`."""

    track: names.Track
    model: api.ModelSpec
    replicas: int | None
    """None while an HPA owns the stable's replicas: the manifest leaves them out."""
    server_mirror: int = 0
    """Percent of requests the track's server copies to the shadow itself (rollout.mirror_percent);
    0 under a router that `mirrors` (a Gateway's RequestMirror), so no request is copied twice."""


@dataclass(frozen=True)
class Route:
    """The router's plan for a weight (SetWeight): the size of each track, kept on one this turn
    does not run, the per-track Services the router sends traffic to, and its routing objects."""

    stable_replicas: int | None
    """None while an HPA owns the stable's replicas."""
    canary_replicas: int
    services: tuple[names.Track, ...]
    objects: tuple[dict[str, Any], ...]


Order: TypeAlias = (
    RunTrack
    | Route
    | rollout.DeleteCanary
    | rollout.StartValidation
    | rollout.DeleteValidation
    | rollout.RecordEvent
)


def plan(
    router: traffic_router.Router,
    *,
    spec: api.ModelDeploymentSpec,
    world: observe.World,
    weight: int,
) -> traffic_router.TrafficPlan:
    """The router's plan for `weight` with the pods that are ready now."""
    return router.plan(
        replicas=autoscaling.capacity(spec.serving, world.stable),
        weight=weight,
        stable_ready=world.readiness.stable_ready,
        canary_ready=world.readiness.canary_ready,
    )


def traffic(
    router: traffic_router.Router,
    seen: traffic_router.TrafficPlan,
    readiness: traffic_router.Readiness,
) -> rollout.Traffic:
    """What the brain is told of the weight `seen` is the plan for (the one in status).

    A router that reads a weight off its routing object reports that as the actual share: it is
    where requests go now, whatever this turn's plan will write."""
    return rollout.Traffic(
        weight=seen.weight,
        settled=router.is_settled(seen, readiness),
        actual=(
            seen.actual_weight
            if readiness.canary_route_weight is None
            else readiness.canary_route_weight
        ),
    )


def weight_of(actions: Iterable[rollout.Action]) -> int | None:
    """The canary weight the brain asked for this turn (its SetWeight), if it asked for one."""
    return next((a.weight for a in actions if isinstance(a, rollout.SetWeight)), None)


def resolve(
    actions: tuple[rollout.Action, ...],
    *,
    router: traffic_router.Router,
    spec: api.ModelDeploymentSpec,
    world: observe.World,
    seen: traffic_router.TrafficPlan,
    mirror: int = 0,
) -> tuple[Order, ...]:
    """The actions, in their order, with their values from one plan for the SetWeight's weight.

    `seen` is the plan the brain's observation came from; it is that plan again when the weight
    did not move, so the router plans once per weight a turn. `mirror` is the percent of requests
    the stable copies to the canary as a shadow (rollout.mirror_percent)."""
    weight = weight_of(actions)
    chosen = None
    if weight is not None:
        chosen = (
            seen if seen.weight == weight else plan(router, spec=spec, world=world, weight=weight)
        )
    if chosen is not None and mirror > 0:
        # A shadow gets pods for its share of the load though its weight is 0.
        size = shadowing.replicas(
            serving_replicas=autoscaling.capacity(spec.serving, world.stable), mirror=mirror
        )
        chosen = dataclasses.replace(
            chosen, canary_replicas=max(chosen.canary_replicas, size), mirror_percent=mirror
        )
    server_mirror = 0 if router.mirrors else spec.rollout.mirror_percent
    out: list[Order] = []
    for action in actions:
        match action:
            case rollout.EnsureStable(model=model):
                size = _sized(chosen, action).stable_replicas
                replicas = autoscale.stable_replicas(spec.serving, world.stable, size)
                out.append(
                    RunTrack(
                        track="stable", model=model, replicas=replicas, server_mirror=server_mirror
                    )
                )
            case rollout.EnsureCanary(model=model):
                size = _sized(chosen, action).canary_replicas
                out.append(
                    RunTrack(
                        track="canary", model=model, replicas=size, server_mirror=server_mirror
                    )
                )
            case rollout.SetWeight():
                out.append(_route(_sized(chosen, action), router=router, spec=spec, world=world))
            case _:
                out.append(action)
    return tuple(out)


def _sized(
    chosen: traffic_router.TrafficPlan | None, action: rollout.Action
) -> traffic_router.TrafficPlan:
    if chosen is None:
        raise ValueError(f"{action} came without a SetWeight: the replicas follow from its weight")
    return chosen


def _route(
    chosen: traffic_router.TrafficPlan,
    *,
    router: traffic_router.Router,
    spec: api.ModelDeploymentSpec,
    world: observe.World,
) -> Route:
    target = world.target
    reads = router.objects_to_read(target)
    services: dict[names.Track, str] = {
        "stable": target.stable_service,
        "canary": target.canary_service,
    }
    return Route(
        # The HPA owns the stable's replicas: never fight it.
        stable_replicas=None if spec.serving.autoscaling is not None else chosen.stable_replicas,
        canary_replicas=chosen.canary_replicas,
        services=tuple(
            track
            for track, service in services.items()
            if traffic_router.ObjectRef("v1", "Service", target.namespace, service) in reads
        ),
        objects=tuple(router.desired_objects(chosen, target=target, current=world.routing)),
    )
