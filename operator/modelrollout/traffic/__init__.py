"""Traffic routers: turn a requested canary weight into replicas and routing objects (pure, no I/O).

The controller picks one with `router_for(spec.rollout.trafficRouting)` and applies what it plans.
"""

from modelrollout.traffic.gateway_api import GatewayAPIRouter, canary_share_of
from modelrollout.traffic.noop import NoopRouter
from modelrollout.traffic.registry import names, router_for
from modelrollout.traffic.replica_ratio import ReplicaRatioRouter, target_replicas
from modelrollout.traffic.router import (
    ObjectRef,
    Readiness,
    Router,
    RouterError,
    Target,
    TrafficPlan,
    ready_share,
)

__all__ = [
    "GatewayAPIRouter",
    "NoopRouter",
    "ObjectRef",
    "Readiness",
    "ReplicaRatioRouter",
    "Router",
    "RouterError",
    "Target",
    "TrafficPlan",
    "canary_share_of",
    "names",
    "ready_share",
    "router_for",
    "target_replicas",
]
