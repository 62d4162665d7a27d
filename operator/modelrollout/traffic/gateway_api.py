"""Gateway API router: exact weights on the backendRefs of an HTTPRoute the user owns; replicas alone.

The controller reads the HTTPRoute and the per-track Services once a turn and passes them in as
`current`: the route's weights say where traffic is, and the returned copy is written back with an
update (not server-side apply: `spec.rules` is an atomic list, and the user owns the rest). During a
shadow step each such rule also carries a RequestMirror filter to the shadow Service (the Gateway
copies the requests, the stable server does not), removed when the step ends; other filters stay.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from modelrollout.traffic import router

API_VERSION = "gateway.networking.k8s.io/v1"
KIND = "HTTPRoute"
MIRROR = "RequestMirror"
# The Gateway API's limit on a rule's filters (HTTPRouteRule.filters maxItems).
MAX_FILTERS = 16


class GatewayAPIRouter:
    """Writes the canary's weight to an HTTPRoute; the canary runs at a fixed size while it has traffic."""

    def __init__(self, *, http_route: str, canary_replicas: int | None = None) -> None:
        if canary_replicas is not None and canary_replicas < 1:
            raise router.RouterError(
                f"gatewayAPI canary replicas must be at least 1, got {canary_replicas}; "
                "leave it unset to run the canary at spec.serving.replicas"
            )
        self.http_route = http_route
        self._canary_replicas = canary_replicas

    @property
    def name(self) -> str:
        return "gatewayAPI"

    @property
    def mirrors(self) -> bool:
        return True

    def plan(
        self, *, replicas: int, weight: int, stable_ready: int, canary_ready: int
    ) -> router.TrafficPlan:
        router.check_inputs(
            replicas=replicas, weight=weight, stable_ready=stable_ready, canary_ready=canary_ready
        )
        canary = 0 if weight == 0 else (self._canary_replicas or replicas)
        # Weight goes only to pods that can take it (kserve#5983): while canary pods start, the
        # route carries the request scaled by the ready fraction, so each ready pod's load is as planned.
        ready_fraction = 1.0 if canary == 0 else min(1.0, canary_ready / canary)
        routed = int(weight * ready_fraction)
        return router.TrafficPlan(
            weight=weight,
            stable_replicas=replicas,
            canary_replicas=canary,
            canary_route_weight=routed,
            actual_weight=float(routed),
            held=routed != weight,
        )

    def is_settled(self, plan: router.TrafficPlan, observed: router.Readiness) -> bool:
        return (
            not plan.held
            and observed.canary_route_weight == plan.canary_route_weight
            and observed.canary_ready >= plan.canary_replicas
        )

    def objects_to_read(self, target: router.Target) -> list[router.ObjectRef]:
        # The route's backendRefs name one Service per track; the controller keeps those two.
        return [
            self._ref(target),
            router.ObjectRef("v1", "Service", target.namespace, target.stable_service),
            router.ObjectRef("v1", "Service", target.namespace, target.canary_service),
        ]

    def observed_weight(
        self, *, target: router.Target, current: Mapping[router.ObjectRef, Mapping[str, Any]]
    ) -> float | None:
        route = current.get(self._ref(target))
        return None if route is None else canary_share_of(route, target)

    def desired_objects(
        self,
        plan: router.TrafficPlan,
        *,
        target: router.Target,
        current: Mapping[router.ObjectRef, Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        ref = self._ref(target)
        route = current.get(ref)
        if route is None:
            raise router.RouterError(
                f"HTTPRoute {ref.namespace}/{ref.name} was not found: create it with a rule whose "
                f"backendRefs include Service {target.stable_service}, or remove "
                "spec.rollout.trafficRouting.gatewayAPI"
            )
        canary_weight = plan.canary_route_weight or 0
        updated = copy.deepcopy(dict(route))
        rules = [r for r in updated.get("spec", {}).get("rules", []) if _routes_to(r, target)]
        if not rules:
            raise router.RouterError(
                f"HTTPRoute {ref.namespace}/{ref.name} has no rule whose backendRefs include "
                f"Service {target.stable_service}: add one, since the canary's weight is set "
                "beside the stable's in each such rule"
            )
        for rule in rules:
            canaries = [b for b in rule["backendRefs"] if _is_service(b, target.canary_service)]
            refs = [b for b in rule["backendRefs"] if not _is_service(b, target.canary_service)]
            for b in refs:
                if _is_service(b, target.stable_service):
                    b["weight"] = 100 - canary_weight
            # The one read back keeps the defaults the API server filled in (group, kind), so an
            # unchanged route compares equal and is not updated again each turn.
            refs.append(
                {
                    **(canaries[0] if canaries else {}),
                    "name": target.canary_service,
                    "port": target.port,
                    "weight": canary_weight,
                }
            )
            rule["backendRefs"] = refs
            _set_mirror(rule, percent=plan.mirror_percent, target=target, route=ref)
        return [updated]

    def _ref(self, target: router.Target) -> router.ObjectRef:
        return router.ObjectRef(API_VERSION, KIND, target.namespace, self.http_route)


def mirror_filter(*, percent: int, target: router.Target) -> dict[str, Any]:
    """The RequestMirror filter that copies `percent` of a rule's requests to the shadow Service.

    group and kind are written as the API server's defaults, so the stored route reads back equal
    to what was written and an unchanged route is not updated again each turn."""
    if target.shadow_service is None:
        raise router.RouterError(
            "a shadow step under gatewayAPI needs the shadow Service's name in the router's target"
        )
    backend = {"group": "", "kind": "Service", "name": target.shadow_service, "port": target.port}
    return {"type": MIRROR, "requestMirror": {"backendRef": backend, "percent": percent}}


def _set_mirror(
    rule: dict[str, Any], *, percent: int, target: router.Target, route: router.ObjectRef
) -> None:
    """Keep the user's filters as they are, in their order; ours follows them while `percent` > 0."""
    written = rule.get("filters")
    kept = [f for f in written or [] if not _is_our_mirror(f, target)]
    if percent > 0:
        if len(kept) >= MAX_FILTERS:
            raise router.RouterError(
                f"HTTPRoute {route.namespace}/{route.name} has a rule with {len(kept)} filters, the "
                f"Gateway API's most, so the shadow step's {MIRROR} filter cannot be added: "
                "remove one of them, or split the rule"
            )
        kept.append(mirror_filter(percent=percent, target=target))
    if kept or written == []:
        rule["filters"] = kept
    else:
        rule.pop("filters", None)  # only ours was there: the rule reads as the user wrote it


def _is_our_mirror(f: Mapping[str, Any], target: router.Target) -> bool:
    backend = (f.get("requestMirror") or {}).get("backendRef") or {}
    return (
        f.get("type") == MIRROR
        and target.shadow_service is not None
        and _is_service(backend, target.shadow_service)
        and backend.get("namespace", target.namespace) == target.namespace
    )


def canary_share_of(route: Mapping[str, Any], target: router.Target) -> float | None:
    """The canary's percent of the stable+canary weight in the rules that serve the stable.

    A rule without a canary backend sends it nothing (0); None when the rules disagree, when no rule
    serves the stable, or when a rule weighs both at 0 (the Gateway API answers 500 there, not 0%).
    """
    shares = set()
    for rule in route.get("spec", {}).get("rules", []):
        if not _routes_to(rule, target):
            continue
        canary = _weight(rule, target.canary_service)
        stable = _weight(rule, target.stable_service)
        if canary + stable == 0:
            return None
        shares.add(100.0 * canary / (canary + stable))
    return shares.pop() if len(shares) == 1 else None


def _weight(rule: Mapping[str, Any], service: str) -> int:
    # The Gateway API's default weight is 1 when a backendRef leaves it out.
    return sum(
        int(b.get("weight", 1)) for b in rule.get("backendRefs") or [] if _is_service(b, service)
    )


def _routes_to(rule: Mapping[str, Any], target: router.Target) -> bool:
    return any(_is_service(b, target.stable_service) for b in rule.get("backendRefs") or [])


def _is_service(backend: Mapping[str, Any], name: str) -> bool:
    return (
        backend.get("name") == name
        and backend.get("kind", "Service") == "Service"
        and backend.get("group", "") in {"", "core"}
    )
