"""Keeps the stable track's HPA as spec.serving.autoscaling says, and hands the stable's replicas
over to it without a dip. Pure: orders sizes the stable, act writes against what observe read.

Handing over: a field the operator's server-side apply owns alone is removed when a later apply
leaves it out, so the Deployment would fall to one pod before the HPA acts. The operator first
applies the current count under a second field manager (the documented handover), then leaves
replicas out of its own applies; the HPA's scale updates take the field from there.
"""

from __future__ import annotations

from typing import Any

from modelrollout import api
from modelrollout.k8s import autoscaling, client, names

HANDOVER_MANAGER = "model-rollout-handover"
# On the stable Deployment while an HPA owns its replicas, so that turning autoscaling off knows
# there is an HPA to delete without reading it on every turn of every ModelDeployment.
AUTOSCALED_ANNOTATION = f"{names.GROUP}/autoscaled"


def stable_replicas(
    serving: api.ServingSpec, stable: dict[str, Any] | None, planned: int
) -> int | None:
    """The replicas to write on the stable Deployment: None once an HPA owns them."""
    if serving.autoscaling is None:
        return planned
    # A new Deployment starts at the HPA's minimum; the next turn hands the field over.
    return autoscaling.capacity(serving, None) if stable is None else None


def has_hpa(stable: dict[str, Any] | None) -> bool:
    """True when the stable Deployment is marked as scaled by an HPA (so there is one to delete)."""
    marked = ((stable or {}).get("metadata") or {}).get("annotations") or {}
    return AUTOSCALED_ANNOTATION in marked


def handover(stable: dict[str, Any] | None, *, namespace: str) -> dict[str, Any] | None:
    """The apply, under HANDOVER_MANAGER, that keeps the stable's current count while the operator's
    own applies stop naming replicas; None once the operator no longer owns the field."""
    if stable is None or not autoscaling.owns_replicas(stable, manager=client.FIELD_MANAGER):
        return None
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": stable["metadata"]["name"], "namespace": namespace},
        "spec": {"replicas": int((stable.get("spec") or {}).get("replicas") or 1)},
    }


def mark(manifest: dict[str, Any], serving: api.ServingSpec) -> dict[str, Any]:
    """The stable Deployment's manifest, annotated while an HPA owns its replicas."""
    if serving.autoscaling is not None:
        manifest["metadata"].setdefault("annotations", {})[AUTOSCALED_ANNOTATION] = "true"
    return manifest
