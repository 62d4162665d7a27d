"""The stable's HPA and the replica arithmetic around it: the canary follows the count the HPA gave
the stable, the stable is never shrunk or written once the HPA owns it."""

from __future__ import annotations

from typing import Any

import pytest

from modelrollout import api, traffic
from modelrollout.controller import autoscale
from modelrollout.k8s import autoscaling, builders

pytestmark = pytest.mark.unit
OWNER = builders.owner_reference(name="iris", uid="u")


def _serving(**scaling: Any) -> api.ServingSpec:
    return api.ServingSpec.model_validate(
        {
            "replicas": 2,
            "resources": {"requests": {"cpu": "100m"}},
            "autoscaling": {"minReplicas": 2, "maxReplicas": 8, "targetCPU": 60, **scaling},
        }
    )


def _stable(replicas: int | None, managed: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec = {} if replicas is None else {"replicas": replicas}
    return {"metadata": {"name": "iris-stable", "managedFields": managed or []}, "spec": spec}


def test_the_hpa_scales_the_stable_deployment_on_cpu_between_min_and_max() -> None:
    hpa = autoscaling.hpa(
        md_name="iris", namespace="ml", owner=OWNER, autoscaling=_serving().autoscaling
    )
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["name"] == "iris-stable"
    assert hpa["metadata"]["ownerReferences"] == [OWNER]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "iris-stable",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 60},
    }


@pytest.mark.parametrize(
    ("current", "expected"),
    [(None, 2), (2, 2), (5, 5), (8, 8), (1, 2), (20, 8)],  # the HPA's count, kept within min..max
)
def test_capacity_is_the_stable_count_the_hpa_set(current: int | None, expected: int) -> None:
    assert autoscaling.capacity(_serving(), _stable(current)) == expected


def test_without_autoscaling_capacity_is_spec_replicas_whatever_the_deployment_says() -> None:
    assert autoscaling.capacity(api.ServingSpec(replicas=3), _stable(7)) == 3


@pytest.mark.parametrize(
    ("stable", "weight", "expected"),
    [
        (4, 10, (4, 1)),
        (4, 50, (4, 4)),
        (6, 50, (6, 6)),  # the HPA grew the stable: the canary follows its count
        (4, 75, (4, 8)),  # above half the stable is not shrunk; the canary surges (3x)
        (4, 90, (4, 8)),  # 36 wanted, held at maxReplicas
        (4, 100, (4, 4)),
    ],
)
def test_the_canary_follows_the_stable_count_and_the_stable_is_never_shrunk(
    stable: int, weight: int, expected: tuple[int, int]
) -> None:
    router = traffic.ReplicaRatioRouter(shrink_stable=False, canary_limit=8)
    plan = router.plan(replicas=stable, weight=weight, stable_ready=stable, canary_ready=0)
    assert (plan.stable_replicas, plan.canary_replicas) == expected


def test_a_stable_scaled_up_mid_step_holds_the_step_until_the_canary_follows() -> None:
    router = traffic.ReplicaRatioRouter(shrink_stable=False, canary_limit=8)
    # Settled at 50% on 2+2; the HPA makes the stable 4, so the plan wants 4 canary pods.
    plan = router.plan(replicas=4, weight=50, stable_ready=2, canary_ready=2)
    assert plan.canary_replicas == 4
    assert not router.is_settled(plan, traffic.Readiness(stable_ready=2, canary_ready=2))
    plan = router.plan(replicas=4, weight=50, stable_ready=4, canary_ready=4)
    assert router.is_settled(plan, traffic.Readiness(stable_ready=4, canary_ready=4))
    assert plan.actual_weight == pytest.approx(50.0)


def test_the_router_gets_the_hpas_maximum_when_autoscaling_is_on() -> None:
    router = traffic.router_for(None, dynamic_stable_scale=False, canary_limit=3)
    plan = router.plan(replicas=2, weight=90, stable_ready=2, canary_ready=0)
    assert (plan.stable_replicas, plan.canary_replicas) == (2, 3)


def test_the_stable_manifest_leaves_replicas_to_the_hpa_once_it_exists() -> None:
    serving = _serving()
    assert autoscale.stable_replicas(serving, None, 5) == 2  # created at the HPA's minimum
    assert autoscale.stable_replicas(serving, _stable(6), 5) is None
    assert autoscale.stable_replicas(api.ServingSpec(replicas=3), _stable(6), 3) == 3
    model = api.ModelSpec(name="iris", version="1", uri="file:///m")
    manifest = builders.server_deployment(
        md_name="iris",
        namespace="ml",
        owner=OWNER,
        track="stable",
        model=model,
        serving=serving,
        replicas=None,
        default_image="img",
    )
    assert "replicas" not in manifest["spec"]
    marked = autoscale.mark(manifest, serving)
    assert marked["metadata"]["annotations"][autoscale.AUTOSCALED_ANNOTATION] == "true"


def test_ownership_of_replicas_is_read_from_the_apply_entry_of_the_operator() -> None:
    ours = {"manager": "model-rollout", "operation": "Apply"}
    owned = {**ours, "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}
    not_owned = {**ours, "fieldsV1": {"f:spec": {"f:template": {}}}}
    hpa = {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }
    assert autoscaling.owns_replicas(_stable(2, [owned]), manager="model-rollout")
    assert not autoscaling.owns_replicas(_stable(2, [not_owned, hpa]), manager="model-rollout")


@pytest.mark.parametrize(
    ("scaling", "error"),
    [
        ({"minReplicas": 5, "maxReplicas": 2}, "minReplicas must be at most maxReplicas"),
        ({"targetCPU": None, "targetRequestsPerSecond": 10}, "custom-metrics adapter"),
        ({"targetCPU": None}, "set targetCPU"),
        ({"targetCPU": 0}, "greater than or equal to 1"),
        ({"targetCPU": 150}, "less than or equal to 100"),
        ({"minReplicas": 0}, "greater than or equal to 1"),
    ],
)
def test_nonsense_autoscaling_is_refused_saying_what_to_change(
    scaling: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        _serving(**scaling)


def test_target_cpu_needs_a_cpu_request() -> None:
    with pytest.raises(ValueError, match=r"set resources\.requests\.cpu"):
        api.ServingSpec.model_validate(
            {"autoscaling": {"minReplicas": 1, "maxReplicas": 2, "targetCPU": 50}}
        )
