"""Keeps the stable track's HPA as spec.serving.autoscaling says, and hands the stable's replicas
over to it without a dip. Called by act on every turn.

Handing over: a field the operator's server-side apply owns alone is removed when a later apply
leaves it out, so the Deployment would fall to one pod before the HPA acts. The operator first
applies the current count under a second field manager (the documented handover), then leaves
replicas out of its own applies; the HPA's scale updates take the field from there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelrollout import api
from modelrollout.k8s import autoscaling, client, names

HANDOVER_MANAGER = "model-rollout-handover"
# On the stable Deployment while an HPA owns its replicas, so that turning autoscaling off knows
# there is an HPA to delete without reading it on every turn of every ModelDeployment.
AUTOSCALED_ANNOTATION = f"{names.GROUP}/autoscaled"

ApplyIfChanged = Callable[[dict[str, Any], dict[str, Any] | None], None]


def stable_replicas(
    serving: api.ServingSpec, stable: dict[str, Any] | None, planned: int
) -> int | None:
    """The replicas to write on the stable Deployment: None once an HPA owns them."""
    if serving.autoscaling is None:
        return planned
    # A new Deployment starts at the HPA's minimum; the next turn hands the field over.
    return autoscaling.capacity(serving, None) if stable is None else None


def sync(
    *,
    kube: client.Kube,
    md_name: str,
    namespace: str,
    owner: dict[str, Any],
    serving: api.ServingSpec,
    stable: dict[str, Any] | None,
    apply_if_changed: ApplyIfChanged,
) -> None:
    name = autoscaling.hpa_name(md_name)
    if serving.autoscaling is None:
        marked = ((stable or {}).get("metadata") or {}).get("annotations") or {}
        if AUTOSCALED_ANNOTATION in marked:
            kube.delete(
                api_version=autoscaling.API_VERSION,
                kind="HorizontalPodAutoscaler",
                name=name,
                namespace=namespace,
            )
        return
    current = kube.get(
        api_version=autoscaling.API_VERSION,
        kind="HorizontalPodAutoscaler",
        name=name,
        namespace=namespace,
    )
    manifest = autoscaling.hpa(
        md_name=md_name, namespace=namespace, owner=owner, autoscaling=serving.autoscaling
    )
    apply_if_changed(manifest, current)
    if stable is not None and autoscaling.owns_replicas(stable, manager=client.FIELD_MANAGER):
        kube.apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": stable["metadata"]["name"], "namespace": namespace},
                "spec": {"replicas": int((stable.get("spec") or {}).get("replicas") or 1)},
            },
            field_manager=HANDOVER_MANAGER,
        )


def mark(manifest: dict[str, Any], serving: api.ServingSpec) -> dict[str, Any]:
    """The stable Deployment's manifest, annotated while an HPA owns its replicas."""
    if serving.autoscaling is not None:
        manifest["metadata"].setdefault("annotations", {})[AUTOSCALED_ANNOTATION] = "true"
    return manifest
