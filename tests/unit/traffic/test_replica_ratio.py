"""The replica-ratio router: the design's table, capacity kept while pods start, and its properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrollout import traffic

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("replicas", "weight", "stable", "canary"),
    [
        (4, 0, 4, 0),
        (4, 10, 4, 1),  # 0.44 pods rounds to 0, but a canary with weight gets one pod
        (4, 20, 4, 1),
        (4, 25, 4, 1),  # 1.33
        (4, 40, 4, 3),  # 2.67
        (4, 50, 4, 4),
        (4, 60, 3, 4),  # 2.67 stable
        (4, 75, 1, 4),  # 1.33
        (4, 90, 1, 4),  # 0.44 rounds to 0; the stable keeps one pod until promotion
        (4, 100, 1, 4),
        (10, 10, 10, 1),  # 1.11
        (10, 30, 10, 4),  # 4.29
        (10, 70, 4, 10),  # 4.29
        (3, 50, 3, 3),
        (1, 10, 1, 1),
        (1, 99, 1, 1),
        (5, 1, 5, 1),
    ],
)
def test_settled_replicas_follow_the_design_table(
    replicas: int, weight: int, stable: int, canary: int
) -> None:
    assert traffic.target_replicas(replicas=replicas, weight=weight) == (stable, canary)
    plan = traffic.ReplicaRatioRouter().plan(
        replicas=replicas, weight=weight, stable_ready=stable, canary_ready=canary
    )
    assert (plan.stable_replicas, plan.canary_replicas, plan.held) == (stable, canary, False)


def test_half_a_pod_rounds_up_not_to_even() -> None:
    # 2 * 20 / 80 = 0.5 and 6 * 20 / 80 = 1.5: both round up, as people count pods.
    assert traffic.target_replicas(replicas=2, weight=20) == (2, 1)
    assert traffic.target_replicas(replicas=6, weight=20) == (6, 2)


def test_the_stable_shrinks_only_as_canary_pods_become_ready() -> None:
    router = traffic.ReplicaRatioRouter()
    # Moving from 50% to 90%: the canary has 4 pods but only 1 is ready yet.
    plan = router.plan(replicas=4, weight=90, stable_ready=4, canary_ready=1)
    assert (plan.stable_replicas, plan.canary_replicas, plan.held) == (3, 4, True)
    plan = router.plan(replicas=4, weight=90, stable_ready=3, canary_ready=4)
    assert (plan.stable_replicas, plan.held) == (1, False)


def test_rolling_back_from_a_high_weight_keeps_canary_pods_until_the_stable_is_back() -> None:
    router = traffic.ReplicaRatioRouter()
    plan = router.plan(replicas=4, weight=0, stable_ready=1, canary_ready=4)
    assert (plan.stable_replicas, plan.canary_replicas, plan.held) == (4, 3, True)
    plan = router.plan(replicas=4, weight=0, stable_ready=4, canary_ready=3)
    assert (plan.stable_replicas, plan.canary_replicas, plan.held) == (4, 0, False)


def test_a_first_version_creates_no_canary_pods_to_cover_a_missing_stable() -> None:
    plan = traffic.ReplicaRatioRouter().plan(replicas=4, weight=0, stable_ready=0, canary_ready=0)
    assert (plan.stable_replicas, plan.canary_replicas, plan.actual_weight) == (4, 0, None)


def test_actual_weight_is_the_share_of_ready_endpoints_beside_the_requested_one() -> None:
    plan = traffic.ReplicaRatioRouter().plan(replicas=4, weight=10, stable_ready=4, canary_ready=1)
    assert plan.weight == 10
    assert plan.actual_weight == pytest.approx(20.0)
    assert plan.canary_route_weight is None


def test_settled_only_when_the_ready_pods_match_the_plan() -> None:
    router = traffic.ReplicaRatioRouter()
    plan = router.plan(replicas=4, weight=10, stable_ready=4, canary_ready=0)
    assert not router.is_settled(plan, traffic.Readiness(stable_ready=4, canary_ready=0))
    plan = router.plan(replicas=4, weight=10, stable_ready=4, canary_ready=1)
    assert router.is_settled(plan, traffic.Readiness(stable_ready=4, canary_ready=1))


def test_without_stable_shrinking_the_share_stops_at_half_and_says_so() -> None:
    router = traffic.ReplicaRatioRouter(shrink_stable=False)
    plan = router.plan(replicas=4, weight=75, stable_ready=4, canary_ready=4)
    assert (plan.stable_replicas, plan.canary_replicas, plan.held) == (4, 4, False)
    assert (plan.weight, plan.actual_weight) == (75, pytest.approx(50.0))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (
            {"replicas": 0, "weight": 10, "stable_ready": 0, "canary_ready": 0},
            "spec.serving.replicas",
        ),
        ({"replicas": 4, "weight": 101, "stable_ready": 4, "canary_ready": 0}, "setWeight"),
        ({"replicas": 4, "weight": 10, "stable_ready": -1, "canary_ready": 0}, "readyReplicas"),
    ],
)
def test_impossible_inputs_are_refused_with_what_to_check(
    kwargs: dict[str, int], needle: str
) -> None:
    with pytest.raises(traffic.RouterError, match=needle):
        traffic.ReplicaRatioRouter().plan(**kwargs)


replicas_st = st.integers(min_value=1, max_value=50)
weights_st = st.integers(min_value=0, max_value=100)


@settings(deadline=None)  # timing varies on a busy CI machine; the property does not
@given(replicas=replicas_st, weight=weights_st, stable_ready=st.integers(0, 60), data=st.data())
def test_capacity_never_drops_below_replicas_when_pods_go_before_new_ones_are_ready(
    replicas: int, weight: int, stable_ready: int, data: st.DataObject
) -> None:
    # Start from any state that has full capacity; apply the plan the worst way: pods above the
    # desired count vanish at once, pods below it are not ready yet.
    canary_ready = data.draw(st.integers(max(0, replicas - stable_ready), 60))
    plan = traffic.ReplicaRatioRouter().plan(
        replicas=replicas, weight=weight, stable_ready=stable_ready, canary_ready=canary_ready
    )
    after = min(stable_ready, plan.stable_replicas) + min(canary_ready, plan.canary_replicas)
    assert after >= replicas


@settings(deadline=None)  # timing varies on a busy CI machine; the property does not
@given(replicas=replicas_st, weight=st.integers(1, 50))
def test_the_stable_keeps_every_replica_up_to_half_the_traffic(replicas: int, weight: int) -> None:
    stable, canary = traffic.target_replicas(replicas=replicas, weight=weight)
    assert stable == replicas
    assert canary >= 1


@settings(deadline=None)  # timing varies on a busy CI machine; the property does not
@given(replicas=replicas_st, weight=st.integers(1, 99))
def test_a_canary_with_weight_always_has_a_pod_and_the_stable_keeps_one(
    replicas: int, weight: int
) -> None:
    stable, canary = traffic.target_replicas(replicas=replicas, weight=weight)
    assert canary >= 1
    assert stable >= 1


@settings(deadline=None)  # timing varies on a busy CI machine; the property does not
@given(replicas=replicas_st, weight=weights_st)
def test_the_settled_share_is_within_one_pod_of_the_requested_weight(
    replicas: int, weight: int
) -> None:
    stable, canary = traffic.target_replicas(replicas=replicas, weight=weight)
    share = traffic.ready_share(stable_ready=stable, canary_ready=canary)
    assert share is not None
    assert abs(share - weight) <= 100 / (stable + canary) + 1e-9
