"""The no-op router: no traffic split. The stable keeps its replicas and no canary pods run.

Chosen by `trafficRouting: {none: {}}`, where the new version replaces pods at promotion and
weights only gate the steps; tests use it to drive the rollout without routing concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelrollout.traffic import router


class NoopRouter:
    """Plans the stable at full size and no canary; always settled; writes nothing."""

    @property
    def name(self) -> str:
        return "none"

    @property
    def mirrors(self) -> bool:
        return False  # no shadow runs without a canary (the API refuses a shadow step here)

    def plan(
        self, *, replicas: int, weight: int, stable_ready: int, canary_ready: int
    ) -> router.TrafficPlan:
        router.check_inputs(
            replicas=replicas, weight=weight, stable_ready=stable_ready, canary_ready=canary_ready
        )
        return router.TrafficPlan(
            weight=weight,
            stable_replicas=replicas,
            canary_replicas=0,
            canary_route_weight=None,
            actual_weight=router.ready_share(stable_ready=stable_ready, canary_ready=canary_ready),
            held=False,
        )

    def is_settled(self, plan: router.TrafficPlan, observed: router.Readiness) -> bool:
        del plan, observed
        return True

    def objects_to_read(self, target: router.Target) -> list[router.ObjectRef]:
        del target
        return []

    def observed_weight(
        self, *, target: router.Target, current: Mapping[router.ObjectRef, Mapping[str, Any]]
    ) -> float | None:
        del target, current  # no split, so no weight to read
        return None

    def desired_objects(
        self,
        plan: router.TrafficPlan,
        *,
        target: router.Target,
        current: Mapping[router.ObjectRef, Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        del plan, target, current
        return []
