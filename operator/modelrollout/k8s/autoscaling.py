"""Pure builder of the stable track's HorizontalPodAutoscaler (autoscaling/v2), and the replica
arithmetic around it: the count the canary follows is the one the HPA gave the stable."""

from __future__ import annotations

from typing import Any

from modelrollout import api
from modelrollout.k8s import names

# The HPA takes the stable Deployment's name: one per ModelDeployment, easy to find beside it.
API_VERSION = "autoscaling/v2"


def hpa_name(md_name: str) -> str:
    return names.deployment(md_name, "stable")


def hpa(
    *, md_name: str, namespace: str, owner: dict[str, Any], autoscaling: api.AutoscalingSpec
) -> dict[str, Any]:
    assert autoscaling.target_cpu is not None  # the API refuses autoscaling without it
    return {
        "apiVersion": API_VERSION,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": hpa_name(md_name),
            "namespace": namespace,
            "labels": names.selector(md_name, "stable"),
            "ownerReferences": [owner],
        },
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": names.deployment(md_name, "stable"),
            },
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": autoscaling.target_cpu,
                        },
                    },
                }
            ],
        },
    }


def capacity(serving: api.ServingSpec, stable: dict[str, Any] | None) -> int:
    """The stable's pods the canary's count follows: spec.serving.replicas, or with an HPA the
    stable Deployment's current spec.replicas (what the HPA set), kept within min..max."""
    scaling = serving.autoscaling
    if scaling is None:
        return serving.replicas
    current = ((stable or {}).get("spec") or {}).get("replicas")
    if current is None:
        return scaling.min_replicas
    return max(scaling.min_replicas, min(scaling.max_replicas, int(current)))


def owns_replicas(deployment: dict[str, Any], *, manager: str) -> bool:
    """True when `manager`'s server-side apply still owns the Deployment's spec.replicas."""
    for entry in (deployment.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        fields = entry.get("fieldsV1") or entry.get("fields_v1") or {}
        if "f:replicas" in (fields.get("f:spec") or {}):
            return True
    return False
