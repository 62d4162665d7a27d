"""A user's paths through the operator, end to end on the test bed: real API server, real serving
and validation pods, real Prometheus scraping them, and live traffic with ground-truth feedback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import support
from tests.e2e.traffic import TrafficGenerator
from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

VALIDATION = {
    "dataset": {"uri": "", "target": "species"},
    "thresholds": {"accuracy": {"min": 0.9}},
    "compareWithStable": {"metric": "accuracy", "maxDrop": 0.05},
    "timeout": "3m",
}
ACCURACY = {"name": "accuracy", "min": 0.9, "interval": "30s"}


def _validation() -> dict[str, Any]:
    return {
        **VALIDATION,
        "dataset": {**VALIDATION["dataset"], "uri": support.uri("data/iris-test.csv")},
    }


def _md(testbed: Testbed, **kw: Any) -> dict[str, Any]:
    return support.model_deployment(name="iris", prometheus_url=testbed.prometheus_url, **kw)


def _traffic(
    testbed: Testbed, namespace: str, models: Path, *, rate: float = 20
) -> TrafficGenerator:
    rows, truth = support.read_rows(models / "data" / "iris-online.csv", target="species")
    return support.traffic(testbed, namespace, rows=rows, truth=truth, rate_per_s=rate)


def _replicas(testbed: Testbed, namespace: str) -> dict[str, int]:
    deps = testbed.get("deployments", "-n", namespace)["items"]
    return {d["metadata"]["name"]: d["spec"]["replicas"] for d in deps}


def _deploy_v1(testbed: Testbed, namespace: str, **kw: Any) -> None:
    support.apply(testbed, namespace, _md(testbed, version="1", artifact="iris-v1.skops", **kw))
    support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)
    testbed.kubectl("rollout", "status", "-n", namespace, "deployment/iris-stable", "--timeout=60s")


def test_a_first_version_deploys_straight_to_healthy(
    testbed: Testbed, namespace: str, operator: support.Operator
) -> None:
    support.apply(
        testbed,
        namespace,
        _md(testbed, version="1", artifact="iris-v1.skops", steps=[{"setWeight": 50}]),
    )
    st = support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)
    assert st["stableVersion"] == "1"
    assert st.get("canaryVersion") is None
    assert [h["outcome"] for h in st["history"]] == ["Promoted"]
    eventually(
        lambda: _replicas(testbed, namespace) == {"iris-stable": 2},
        timeout=30,
        what="2 stable replicas",
    )
    reasons = {e["reason"] for e in support.events(testbed, namespace, "iris")}
    assert reasons, "every transition records an event"
    assert "modelrollout_reconcile_duration_seconds_count" in operator.metrics()


def test_a_good_version_is_validated_moves_through_its_steps_and_becomes_stable(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    _deploy_v1(testbed, namespace)
    with _traffic(testbed, namespace, models) as gen:
        support.apply(
            testbed,
            namespace,
            _md(
                testbed,
                version="2",
                artifact="iris-v2.skops",
                validation=_validation(),
                steps=[{"setWeight": 50}, {"analysis": {}}, {"pause": {"duration": "5s"}}],
                metrics=[ACCURACY, {"name": "error_rate", "max": 0.05}],
            ),
        )
        st = support.wait_phase(testbed, namespace, "iris", {"Progressing"}, timeout=120)
        assert st["validation"]["passed"] is True
        eventually(
            lambda: support.status(testbed, namespace, "iris").get("canaryWeight") == 50,
            timeout=60,
            what="weight 50",
        )
        eventually(
            lambda: gen.stats().by_version.get("2", 0) > 20,
            timeout=60,
            what="the canary to serve requests",
        )
        st = support.wait_phase(
            testbed, namespace, "iris", {"Healthy", "RolledBack", "Failed"}, timeout=240
        )
        assert st["phase"] == "Healthy", st
        assert st["stableVersion"] == "2"
        promoted_at = time.time()
        time.sleep(6)
        after = gen.stats(since=promoted_at + 3)
    assert [h["outcome"] for h in st["history"]][-1] == "Promoted"
    assert after.total > 0
    assert after.share("2") == 1.0, after
    assert set(after.by_code) == {200}, after
    eventually(
        lambda: "iris-canary" not in _replicas(testbed, namespace),
        timeout=60,
        what="the canary Deployment to go",
    )


def test_a_version_that_fails_validation_never_receives_a_request(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    _deploy_v1(testbed, namespace)
    with _traffic(testbed, namespace, models, rate=10) as gen:
        support.apply(
            testbed,
            namespace,
            _md(
                testbed,
                version="3",
                artifact="iris-inaccurate.skops",
                validation=_validation(),
                steps=[{"setWeight": 50}],
            ),
        )
        st = support.wait_phase(testbed, namespace, "iris", {"RolledBack", "Failed"}, timeout=180)
        time.sleep(3)
        stats = gen.stats()
    assert st["validation"]["passed"] is False
    assert "accuracy" in st["validation"]["message"]
    assert st["stableVersion"] == "1"
    assert stats.by_version.get("3", 0) == 0, stats
    assert stats.share("1") == 1.0
    assert "iris-canary" not in _replicas(testbed, namespace)
    assert _replicas(testbed, namespace)["iris-stable"] == 2


def _from_canary(sample: Any) -> bool:
    """Answered by the bad version 3: its model_version, or a server error (the stable never fails)."""
    return bool(sample.version == "3" or sample.code >= 500)


def _bad_canary(
    testbed: Testbed,
    namespace: str,
    models: Path,
    *,
    artifact: str,
    metrics: list[dict[str, Any]],
    expect: str,
) -> None:
    """Deploys a version that passes (or skips) validation but is bad online; asserts the automatic rollback."""
    _deploy_v1(testbed, namespace)
    with _traffic(testbed, namespace, models) as gen:
        support.apply(
            testbed,
            namespace,
            _md(
                testbed,
                version="3",
                artifact=artifact,
                steps=[{"setWeight": 50}, {"analysis": {}}],
                metrics=metrics,
            ),
        )
        eventually(
            lambda: sum(map(_from_canary, gen.samples())) > 10,
            timeout=120,
            what="the canary to serve requests",
        )
        st = support.wait_phase(
            testbed, namespace, "iris", {"RolledBack", "Failed", "Healthy"}, timeout=240
        )
        rolled_back = time.time()
        time.sleep(8)
        after = gen.stats(since=rolled_back + 3)
    assert st["phase"] == "RolledBack", st
    assert st["stableVersion"] == "1"
    last = st["history"][-1]
    assert last["version"] == "3"
    assert last["outcome"] == "RolledBack"
    assert expect in (last["message"] + last["reason"]).lower(), last
    failed = [
        m for m in st.get("analysis", {}).get("lastMeasurements", []) if m["phase"] == "Failed"
    ]
    assert failed, st.get("analysis")
    assert sum(map(_from_canary, gen.samples())) > 0
    assert after.total > 0
    assert after.share("1") == 1.0, after
    eventually(
        lambda: _replicas(testbed, namespace).get("iris-canary", 0) == 0,
        timeout=60,
        what="the canary to drain",
    )
    assert _replicas(testbed, namespace)["iris-stable"] == 2
    # The figure for the closing note: from the failing measurement to the canary's last response.
    first_fail = min(m["measuredAt"] for m in failed)
    last_canary = max((s.at for s in gen.samples() if _from_canary(s)), default=None)
    print(
        f"\nROLLBACK-TIMING {expect}: failing measurement at {first_fail}, last canary response at {last_canary}"
    )


def test_a_canary_whose_online_accuracy_drops_is_rolled_back_automatically(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    _bad_canary(
        testbed,
        namespace,
        models,
        artifact="iris-online-flip.skops",
        metrics=[ACCURACY],
        expect="accuracy",
    )


def test_a_canary_with_a_latency_regression_is_rolled_back_automatically(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    _bad_canary(
        testbed,
        namespace,
        models,
        artifact="iris-slow.skops",
        metrics=[{"name": "latency_p99_ms", "max": 100, "interval": "20s"}],
        expect="latency",
    )
