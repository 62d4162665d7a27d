"""The traffic router seam: what a router decides (a TrafficPlan) and the Protocol every router meets.

Routers are pure: the controller reads the objects a router names, lets it say what weight they carry,
asks it for a plan, applies the replicas and manifests it returns, and advances a step only once
`is_settled` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class RouterError(ValueError):
    """A routing spec or a routed object the router cannot work with; the message says what to fix."""


@dataclass(frozen=True)
class Readiness:
    """What the controller observed: ready pods per track and, for weight routers, the applied weight."""

    stable_ready: int
    canary_ready: int
    canary_route_weight: float | None = None
    """The canary's percent of the weight on the routing object (e.g. the HTTPRoute), as the router's
    observed_weight read it; None for replica routers, or when the object does not say one weight."""


@dataclass(frozen=True)
class TrafficPlan:
    """The desired replicas of each track for a requested weight, and the traffic that gives now.

    The controller plans once per weight a turn and carries the plan's values in its orders."""

    weight: int
    """The canary weight the step requested (percent)."""
    stable_replicas: int
    canary_replicas: int
    canary_route_weight: int | None
    """The weight to write on the routing object; None when ready endpoints alone split traffic."""
    actual_weight: float | None
    """Percent of requests the canary gets with the pods ready now; None when no pod is ready."""
    held: bool
    """True while readiness holds the plan short of the request (pods still starting)."""
    mirror_percent: int = 0
    """Percent of requests copied to the shadow (a shadow step's `mirror`; 0 outside one). A router
    that `mirrors` writes it on its routing objects; for the others the stable server copies them."""


@dataclass(frozen=True)
class ObjectRef:
    """An object a router needs to read before it can say what to write."""

    api_version: str
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Target:
    """Where traffic goes: the namespace and the per-track Services the controller created."""

    namespace: str
    stable_service: str
    canary_service: str
    port: int
    shadow_service: str | None = None
    """The Service a shadow step's copies go to (it selects the canary only during the step)."""


class Router(Protocol):
    """Turns a requested canary weight into replicas and routing objects; no I/O."""

    @property
    def name(self) -> str:
        """The spec key that selects this router (replicaRatio, gatewayAPI, none)."""
        ...

    @property
    def mirrors(self) -> bool:
        """True when the routing objects copy a shadow step's requests (a Gateway's RequestMirror);
        the stable server's own forwarding is then left off, so no request is copied twice."""
        ...

    def plan(
        self, *, replicas: int, weight: int, stable_ready: int, canary_ready: int
    ) -> TrafficPlan:
        """Desired replicas per track and routed weight, given the pods ready now."""
        ...

    def is_settled(self, plan: TrafficPlan, observed: Readiness) -> bool:
        """True once traffic really is where the plan's requested weight puts it."""
        ...

    def objects_to_read(self, target: Target) -> list[ObjectRef]:
        """Objects the controller reads once a turn and passes, as `current`, to observed_weight and
        desired_objects. The per-track Services of `target` among them are kept by the controller."""
        ...

    def observed_weight(
        self, *, target: Target, current: Mapping[ObjectRef, Mapping[str, Any]]
    ) -> float | None:
        """The canary's percent of traffic the routing objects carry now (Argo's VerifyWeight);
        None when ready pods alone split traffic, or the objects do not say one weight."""
        ...

    def desired_objects(
        self,
        plan: TrafficPlan,
        *,
        target: Target,
        current: Mapping[ObjectRef, Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """Manifests to apply for the plan (beyond the Deployments' replicas)."""
        ...


def ready_share(*, stable_ready: int, canary_ready: int) -> float | None:
    """The canary's percent of ready endpoints behind one Service; None when none is ready."""
    total = stable_ready + canary_ready
    return None if total <= 0 else 100.0 * canary_ready / total


def check_inputs(*, replicas: int, weight: int, stable_ready: int, canary_ready: int) -> None:
    """Reject numbers no spec or observation can produce, naming the bad one."""
    if replicas < 1:
        raise RouterError(
            f"replicas must be at least 1, got {replicas}: check spec.serving.replicas"
        )
    if not 0 <= weight <= 100:
        raise RouterError(f"canary weight must be 0..100 percent, got {weight}: check setWeight")
    if stable_ready < 0 or canary_ready < 0:
        raise RouterError(
            f"ready pod counts cannot be negative (stable {stable_ready}, canary {canary_ready}); "
            "pass the Deployments' status.readyReplicas (0 when absent)"
        )
