"""Choose the router a ModelDeployment asks for: by which sub-object of trafficRouting is set.

An explicit table, so a routing choice the API grows without a router here is an error naming it,
never a silent fallback to another router (Flagger's metric provider factory does that: don't).
"""

from __future__ import annotations

from collections.abc import Callable

from modelrollout import api
from modelrollout.traffic import gateway_api, noop, replica_ratio, router

DEFAULT = "replicaRatio"


def _replica_ratio(
    spec: api.TrafficRouting, *, shrink_stable: bool, canary_limit: int | None
) -> router.Router:
    del spec
    return replica_ratio.ReplicaRatioRouter(shrink_stable=shrink_stable, canary_limit=canary_limit)


def _gateway_api(
    spec: api.TrafficRouting, *, shrink_stable: bool, canary_limit: int | None
) -> router.Router:
    del shrink_stable, canary_limit  # replicas are left alone: the route carries the weight
    assert spec.gateway_api is not None  # chosen because it is set
    return gateway_api.GatewayAPIRouter(http_route=spec.gateway_api.http_route)


def _noop(
    spec: api.TrafficRouting, *, shrink_stable: bool, canary_limit: int | None
) -> router.Router:
    del spec, shrink_stable, canary_limit
    return noop.NoopRouter()


# spec key (camelCase, as users write it) -> how to build that router from the spec.
_FACTORIES: dict[str, Callable[..., router.Router]] = {
    "replicaRatio": _replica_ratio,
    "gatewayAPI": _gateway_api,
    "none": _noop,
}


def names() -> tuple[str, ...]:
    """The routers this operator knows, as spec keys."""
    return tuple(_FACTORIES)


def router_for(
    spec: api.TrafficRouting | None,
    *,
    dynamic_stable_scale: bool = True,
    canary_limit: int | None = None,
) -> router.Router:
    """The router for spec.rollout.trafficRouting; replica ratio when no sub-object is set.

    canary_limit is set when an HPA owns the stable's replicas (its maxReplicas)."""
    spec = spec if spec is not None else api.TrafficRouting()
    chosen = [
        field.alias or key
        for key, field in type(spec).model_fields.items()
        if getattr(spec, key) is not None
    ]
    if len(chosen) > 1:
        raise router.RouterError(
            f"spec.rollout.trafficRouting sets {' and '.join(chosen)}: keep exactly one router"
        )
    name = chosen[0] if chosen else DEFAULT
    factory = _FACTORIES.get(name)
    if factory is None:
        raise router.RouterError(
            f"spec.rollout.trafficRouting.{name} has no router in this operator version; "
            f"use one of {', '.join(names())}, or upgrade the operator"
        )
    return factory(spec, shrink_stable=dynamic_stable_scale, canary_limit=canary_limit)
