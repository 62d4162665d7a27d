"""Which images run for real, how pods get their loopback addresses, and when containers restart."""

from __future__ import annotations

import pytest

from testbed.podrunner import images, ipam, policy

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("image", "basename"),
    [
        ("model-rollout", "model-rollout"),
        ("model-rollout:0.1.0", "model-rollout"),
        ("ghcr.io/acme/model-rollout:dev", "model-rollout"),
        ("localhost:5000/model-rollout", "model-rollout"),
        ("localhost:5000/model-rollout:1@sha256:abcd", "model-rollout"),
        ("docker.io/library/nginx:1.27", "nginx"),
        ("model-rollout-extra:1", "model-rollout-extra"),
    ],
)
def test_the_repository_basename_ignores_registry_tag_and_digest(image: str, basename: str) -> None:
    assert images.repository_basename(image) == basename


def test_only_listed_images_are_project_images() -> None:
    names = frozenset({"model-rollout"})
    assert images.is_project_image("registry:5000/x/model-rollout:2", names)
    assert not images.is_project_image("model-rollout-extra:1", names)
    assert not images.is_project_image("nginx", names)


def test_each_pod_gets_its_own_address_and_keeps_it() -> None:
    pool = ipam.IPPool("127.1.0.0/29")
    a, b = pool.allocate("a"), pool.allocate("b")
    assert a != b
    assert pool.allocate("a") == a
    assert a.startswith("127.1.0.")


def test_a_released_address_is_not_handed_out_again_at_once() -> None:
    pool = ipam.IPPool("127.1.0.0/29")
    first = pool.allocate("a")
    pool.release("a")
    assert pool.allocate("b") != first


def test_a_preferred_address_is_kept_when_free_and_in_range() -> None:
    pool = ipam.IPPool("127.1.0.0/24")
    assert pool.allocate("a", prefer="127.1.0.77") == "127.1.0.77"
    assert pool.allocate("b", prefer="127.1.0.77") != "127.1.0.77"
    assert pool.allocate("c", prefer="10.0.0.1").startswith("127.1.0.")


def test_an_exhausted_pool_says_what_to_do() -> None:
    pool = ipam.IPPool("127.1.0.0/30")  # two usable hosts
    pool.allocate("a")
    pool.allocate("b")
    with pytest.raises(ipam.PoolExhaustedError, match="widen --pod-network"):
        pool.allocate("c")


def test_a_non_loopback_network_is_refused() -> None:
    with pytest.raises(ValueError, match=r"inside 127\.0\.0\.0/8"):
        ipam.IPPool("10.0.0.0/24")


@pytest.mark.parametrize(("restarts", "delay"), [(1, 0), (2, 1), (3, 2), (4, 4), (9, 60), (30, 60)])
def test_back_off_is_immediate_first_then_doubles_up_to_the_cap(
    restarts: int, delay: float
) -> None:
    assert policy.backoff(restarts=restarts, base=1.0, cap=60.0) == delay


@pytest.mark.parametrize(
    ("init", "restart_policy", "code", "restart"),
    [
        (False, "Always", 0, True),
        (False, "Always", 1, True),
        (False, "OnFailure", 0, False),
        (False, "OnFailure", 2, True),
        (False, "Never", 2, False),
        (True, "Always", 0, False),
        (True, "Always", 1, True),
        (True, "OnFailure", 1, True),
        (True, "Never", 1, False),
    ],
)
def test_restart_policy_decides_whether_an_exited_container_starts_again(
    init: bool, restart_policy: str, code: int, restart: bool
) -> None:
    assert policy.should_restart(init=init, policy=restart_policy, exit_code=code) is restart
