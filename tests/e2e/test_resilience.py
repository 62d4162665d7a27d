"""The rollout under trouble and under a person's hand: an erroring canary, Prometheus gone, the operator
killed, a new version mid-rollout, the stable version re-applied, and manual promote/abort/retry."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from testbed import paths
from tests.e2e import support
from tests.e2e.test_rollouts import ACCURACY, _bad_canary, _deploy_v1, _md, _replicas, _traffic
from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="session")
def erroring_model(models: Path) -> str:
    """A corrupted artifact: it loads and declares 4 features, but its weights expect 5, so every
    prediction raises inside the server (HTTP 500), while requests themselves are well formed."""
    x, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(x, y)
    clf.coef_ = np.zeros((clf.coef_.shape[0], 5))
    path = models / "models" / "iris-erroring.skops"
    skops.io.dump(clf, path)
    return path.name


def test_a_canary_with_an_error_rate_regression_is_rolled_back_automatically(
    testbed: Testbed, namespace: str, models: Path, erroring_model: str, operator: support.Operator
) -> None:
    _bad_canary(
        testbed,
        namespace,
        models,
        artifact=erroring_model,
        metrics=[{"name": "error_rate", "max": 0.05, "interval": "20s"}],
        expect="error",
    )


def test_without_prometheus_the_rollout_halts_and_resumes_when_it_is_back(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    _deploy_v1(testbed, namespace)
    with _traffic(testbed, namespace, models):
        support.apply(
            testbed,
            namespace,
            _md(
                testbed,
                version="2",
                artifact="iris-v2.skops",
                steps=[{"setWeight": 50}, {"analysis": {}}],
                metrics=[ACCURACY],
                analysis={"count": 3},
            ),
        )
        eventually(
            lambda: (
                support.status(testbed, namespace, "iris").get("analysis", {}).get("rounds", 0) >= 1
            ),
            timeout=120,
            what="the first analysis round",
        )
        testbed.stop_prometheus()
        try:
            errors = eventually(
                lambda: (
                    support.status(testbed, namespace, "iris").get("analysis", {}).get("errors", 0)
                    >= 2
                ),
                timeout=60,
                what="analysis rounds to fail as errors",
            )
            assert errors
            held = support.status(testbed, namespace, "iris")
            assert held["phase"] == "Progressing", held
            assert held["canaryWeight"] == 50
            assert held["stableVersion"] == "1"
            assert any(m["phase"] == "Error" for m in held["analysis"]["lastMeasurements"])
        finally:
            testbed.start_prometheus()
        st = support.wait_phase(
            testbed, namespace, "iris", {"Healthy", "RolledBack", "Failed"}, timeout=240
        )
    assert st["phase"] == "Healthy", st
    assert st["stableVersion"] == "2"


def test_a_killed_operator_resumes_from_status_and_ends_where_it_would_have(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    _deploy_v1(testbed, namespace)
    support.apply(
        testbed,
        namespace,
        _md(
            testbed,
            version="2",
            artifact="iris-v2.skops",
            steps=[
                {"setWeight": 25},
                {"pause": {"duration": "20s"}},
                {"setWeight": 75},
                {"pause": {"duration": "5s"}},
            ],
        ),
    )
    eventually(
        lambda: support.status(testbed, namespace, "iris").get("currentStep") == 1,
        timeout=120,
        what="the first pause",
    )
    operator.kill()
    time.sleep(10)
    frozen = support.status(testbed, namespace, "iris")
    assert frozen["phase"] in {"Progressing", "Paused"}
    operator.start()
    st = support.wait_phase(
        testbed, namespace, "iris", {"Healthy", "RolledBack", "Failed"}, timeout=180
    )
    assert st["phase"] == "Healthy"
    assert [(h["version"], h["outcome"]) for h in st["history"]] == [
        ("1", "Promoted"),
        ("2", "Promoted"),
    ]
    eventually(
        lambda: _replicas(testbed, namespace) == {"iris-stable": 2},
        timeout=60,
        what="the canary to go",
    )


def _paused_at_50(testbed: Testbed, namespace: str, models: Path, version: str = "2") -> None:
    support.apply(
        testbed,
        namespace,
        _md(
            testbed,
            version=version,
            artifact="iris-v2.skops",
            steps=[{"setWeight": 50}, {"pause": {}}],
        ),
    )
    support.wait_phase(testbed, namespace, "iris", {"Paused"}, timeout=120)
    eventually(
        lambda: support.status(testbed, namespace, "iris").get("actualCanaryWeight") == 50.0,
        timeout=60,
        what="the canary to hold half the ready endpoints",
    )


def test_a_new_version_during_a_canary_replaces_it_cleanly(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    _deploy_v1(testbed, namespace)
    with _traffic(testbed, namespace, models, rate=10) as gen:
        _paused_at_50(testbed, namespace, models)
        support.apply(
            testbed,
            namespace,
            _md(
                testbed,
                version="4",
                artifact="iris-v2.skops",
                steps=[{"setWeight": 50}, {"pause": {"duration": "5s"}}],
            ),
        )
        st = support.wait_phase(
            testbed, namespace, "iris", {"Healthy", "RolledBack", "Failed"}, timeout=180
        )
        switched = time.time()
        time.sleep(6)
        after = gen.stats(since=switched + 3)
    assert st["phase"] == "Healthy"
    assert st["stableVersion"] == "4"
    outcomes = [(h["version"], h["outcome"]) for h in st["history"]]
    assert ("2", "Superseded") in outcomes
    assert outcomes[-1] == ("4", "Promoted")
    assert after.share("4") == 1.0, after


def test_reapplying_the_stable_version_aborts_the_canary_at_once(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    _deploy_v1(testbed, namespace)
    with _traffic(testbed, namespace, models, rate=10) as gen:
        _paused_at_50(testbed, namespace, models)
        t0 = time.time()
        support.apply(testbed, namespace, _md(testbed, version="1", artifact="iris-v1.skops"))
        st = support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=30)
        took = time.time() - t0
        eventually(
            lambda: _replicas(testbed, namespace).get("iris-canary", 0) == 0,
            timeout=60,
            what="the canary to drain",
        )
        drained = time.time()
        time.sleep(5)
        after = gen.stats(since=drained + 2)
    assert took < 15, f"abort took {took:.1f}s"
    assert st["stableVersion"] == "1"
    assert st["history"][-1]["outcome"] == "Aborted"
    assert after.share("1") == 1.0, after


def _plugin(testbed: Testbed, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("kubectl-model_rollout", path=str(paths.VENV_BIN))
    assert exe, "the kubectl plugin is installed with the package"
    return subprocess.run(
        [exe, *args, "-n", namespace, "--kubeconfig", str(testbed.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_manual_promote_abort_and_retry_through_the_kubectl_plugin(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    _deploy_v1(testbed, namespace)
    _paused_at_50(testbed, namespace, models)
    shown = _plugin(testbed, namespace, "status", "iris").stdout
    assert "Paused" in shown
    assert "50" in shown
    _plugin(testbed, namespace, "promote", "iris")
    st = support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)
    assert st["stableVersion"] == "2"

    _paused_at_50(testbed, namespace, models, version="3")
    _plugin(testbed, namespace, "abort", "iris")
    st = support.wait_phase(testbed, namespace, "iris", {"RolledBack"}, timeout=120)
    assert st["stableVersion"] == "2"
    assert st["history"][-1]["outcome"] in {"Aborted", "RolledBack"}

    _plugin(testbed, namespace, "retry", "iris")
    support.wait_phase(testbed, namespace, "iris", {"Paused"}, timeout=120)
    history = _plugin(testbed, namespace, "history", "iris").stdout
    assert "3" in history
    assert _plugin(testbed, namespace, "status", "iris").returncode == 0
