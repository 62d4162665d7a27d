"""The default router: a version's share of requests is its share of the one Service's ready endpoints.

Capacity is never given up before it is replaced: the stable shrinks only as canary pods become
ready, and a canary shrinks only as stable pods come back (design.md, "Traffic by replica ratio").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelrollout.traffic import router


def target_replicas(
    *, replicas: int, weight: int, shrink_stable: bool = True, canary_limit: int | None = None
) -> tuple[int, int]:
    """(stable, canary) pods that give `weight` percent once all are ready, capacity kept whole.

    Up to 50% the canary is surge on top of a full stable; above, the canary holds `replicas` and
    the stable shrinks to its share, keeping one pod until promotion so rollback is only a move.
    Without shrink_stable the stable stays full, so the canary's share stops at half (the plan's
    actual weight says so) until promotion; exact weights over a full stable need gatewayAPI.
    With canary_limit the stable belongs to an HPA (`replicas` is its current count): it is never
    shrunk, and the canary surges over it at any weight, up to canary_limit pods.
    """
    if weight == 0:
        return replicas, 0
    if canary_limit is not None:
        wanted = replicas if weight == 100 else _round(replicas * weight / (100 - weight))
        return replicas, max(1, min(canary_limit, wanted))
    if weight <= 50:
        return replicas, max(1, _round(replicas * weight / (100 - weight)))
    if not shrink_stable:
        return replicas, replicas
    return max(1, _round(replicas * (100 - weight) / weight)), replicas


def _round(x: float) -> int:
    # Half rounds up (not Python's banker's rounding), so 2.5 pods is 3 the way people count.
    return int(x + 0.5)


class ReplicaRatioRouter:
    """Splits traffic by the ratio of ready pods; writes no routing objects."""

    def __init__(self, *, shrink_stable: bool = True, canary_limit: int | None = None) -> None:
        # False keeps the stable at full size above 50% (spec.rollout.dynamicStableScale: false),
        # capping the canary's share at half rather than surging to many times the replicas.
        self._shrink_stable = shrink_stable
        # Set when an HPA owns the stable (spec.serving.autoscaling.maxReplicas): see target_replicas.
        self._canary_limit = canary_limit

    @property
    def name(self) -> str:
        return "replicaRatio"

    @property
    def mirrors(self) -> bool:
        return False  # a shadow's copies come from the stable server itself

    def plan(
        self, *, replicas: int, weight: int, stable_ready: int, canary_ready: int
    ) -> router.TrafficPlan:
        router.check_inputs(
            replicas=replicas, weight=weight, stable_ready=stable_ready, canary_ready=canary_ready
        )
        stable, canary = target_replicas(
            replicas=replicas,
            weight=weight,
            shrink_stable=self._shrink_stable,
            canary_limit=self._canary_limit,
        )
        # Shrink a track only as far as the other's ready pods make up for it. The stable may grow
        # to cover, since it is the version to fall back on; a canary only keeps the pods it has.
        held_stable = max(stable, replicas - canary_ready)
        held_canary = max(canary, min(canary_ready, replicas - stable_ready))
        return router.TrafficPlan(
            weight=weight,
            stable_replicas=held_stable,
            canary_replicas=held_canary,
            canary_route_weight=None,
            actual_weight=router.ready_share(stable_ready=stable_ready, canary_ready=canary_ready),
            held=(held_stable, held_canary) != (stable, canary),
        )

    def is_settled(self, plan: router.TrafficPlan, observed: router.Readiness) -> bool:
        return (
            not plan.held
            and observed.stable_ready == plan.stable_replicas
            and observed.canary_ready == plan.canary_replicas
        )

    def objects_to_read(self, target: router.Target) -> list[router.ObjectRef]:
        del target
        return []

    def observed_weight(
        self, *, target: router.Target, current: Mapping[router.ObjectRef, Mapping[str, Any]]
    ) -> float | None:
        del target, current  # no routing object: the ready pods are the traffic
        return None

    def desired_objects(
        self,
        plan: router.TrafficPlan,
        *,
        target: router.Target,
        current: Mapping[router.ObjectRef, Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        # The Service selecting both tracks is the k8s builders' job; replicas carry the weight.
        del plan, target, current
        return []
