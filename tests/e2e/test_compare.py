"""The canary judged against the stable on live feedback (`analysis.metrics[].compare`), end to end.

examples/iris-v2-compare.yaml on the test bed, with shorter intervals: real serving pods, real
Prometheus, live traffic with ground truth. The traffic is chosen so that the real models differ
by a known amount: version 1 and version 2 are equally accurate on it, the online-flip model is
exactly 5 points worse, yet above 90%, so a fixed `min: 0.9` bound would have let it through.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from modelrollout.models import loading
from tests.e2e import support
from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

EXAMPLE = support.REPO / "examples" / "iris-v2-compare.yaml"
WIDE_SEPAL_CM = 4.8  # the made-up flowers the online-flip model gets wrong are all wider
WIDE_ROWS = 3  # of 60 rows: the flip model loses exactly 5 points


def traffic_rows(models: Path) -> tuple[np.ndarray, np.ndarray]:
    """57 held-out rows and 3 wide-sepalled setosa flowers, from examples/data/iris-online.csv."""
    rows, truth = support.read_rows(models / "data" / "iris-online.csv", target="species")
    x, y = np.array(rows), np.array(truth)
    wide = x[:, 1] > WIDE_SEPAL_CM
    pick = np.concatenate(
        [np.flatnonzero(~wide)[: 60 - WIDE_ROWS], np.flatnonzero(wide)[:WIDE_ROWS]]
    )
    return x[pick], y[pick]


def accuracy(models: Path, artifact: str, rows: np.ndarray, truth: np.ndarray) -> float:
    model = loading.load_model(uri=f"file://{models}/models/{artifact}", name=artifact)
    return float(np.mean(model.predict(rows) == truth))


def example(testbed: Testbed, *, version: str, artifact: str) -> dict[str, Any]:
    """The example with this bed's models and Prometheus, 5 s rounds and pauses, no validation.

    Validation is covered by tests/validation (this example included); here it would only add a
    Job's minute to each rollout.
    """
    doc = yaml.safe_load(EXAMPLE.read_text())
    spec = copy.deepcopy(doc["spec"])
    spec.pop("validation")
    spec["model"].update(version=version, uri=support.uri(f"models/{artifact}"))
    spec["rollout"]["steps"] = [
        {"pause": {"duration": "5s"}} if "pause" in step else step
        for step in spec["rollout"]["steps"]
    ]
    spec["rollout"]["progressDeadline"] = "3m"
    # At 5 s a round, the comparison is Inconclusive for more rounds before it has enough feedback.
    spec["analysis"].update(
        prometheus={"address": testbed.prometheus_url}, interval="5s", inconclusiveLimit=60
    )
    return {**doc, "spec": spec}


def deploy_stable(testbed: Testbed, namespace: str) -> None:
    v1 = support.model_deployment(
        name="iris",
        version="1",
        artifact="iris-v1.skops",
        prometheus_url=testbed.prometheus_url,
    )
    support.apply(testbed, namespace, v1)
    support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)
    testbed.kubectl("rollout", "status", "-n", namespace, "deployment/iris-stable", "--timeout=60s")


def roll_out(
    testbed: Testbed, namespace: str, models: Path, *, version: str, artifact: str
) -> tuple[dict[str, Any], float]:
    """v1 stable, then the example's rollout of `artifact` under live traffic to its end."""
    deploy_stable(testbed, namespace)
    rows, truth = traffic_rows(models)
    with support.traffic(testbed, namespace, rows=rows, truth=truth, seed=14) as gen:
        started = time.monotonic()
        support.apply(testbed, namespace, example(testbed, version=version, artifact=artifact))
        eventually(
            lambda: support.status(testbed, namespace, "iris").get("canaryVersion") == version,
            timeout=60,
            what=f"the rollout of version {version} to start",
        )
        st = support.wait_phase(
            testbed, namespace, "iris", {"Healthy", "RolledBack", "Failed", "Paused"}, timeout=300
        )
        took = time.monotonic() - started
        served = gen.stats().by_version.get(version, 0)
    assert served > 0, f"version {version} never answered a request"
    return st, took


def measured(st: dict[str, Any], metric: str = "accuracy") -> dict[str, Any]:
    run = st.get("analysis") or {}
    found = [m for m in run.get("lastMeasurements", []) if m["metric"] == metric]
    assert found, run
    return found[0]


def test_the_traffic_separates_the_models_by_exactly_the_intended_amount(models: Path) -> None:
    rows, truth = traffic_rows(models)
    v1 = accuracy(models, "iris-v1.skops", rows, truth)
    assert accuracy(models, "iris-v2.skops", rows, truth) == pytest.approx(v1)
    flip = accuracy(models, "iris-online-flip.skops", rows, truth)
    assert v1 - flip == pytest.approx(0.05)
    assert flip > 0.9  # a fixed bound of 0.9 would pass it


def test_a_canary_five_points_worse_on_live_feedback_is_rolled_back(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    st, took = roll_out(testbed, namespace, models, version="3", artifact="iris-online-flip.skops")
    assert st["phase"] == "RolledBack", st
    assert st["stableVersion"] == "1"
    last = st["history"][-1]
    assert (last["version"], last["outcome"]) == ("3", "RolledBack")
    accuracy_round = measured(st)
    assert accuracy_round["phase"] == "Failed", accuracy_round
    assert "worse" in accuracy_round["message"], accuracy_round
    assert st["analysis"]["evidence"]["accuracy"] > 0
    print(
        f"\nCOMPARE-TIMING worse canary rolled back after {took:.0f} s: {accuracy_round['message']}"
    )


def test_a_canary_as_good_as_the_stable_is_promoted_with_evidence_carried_across_weights(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    st, took = roll_out(testbed, namespace, models, version="2", artifact="iris-v2.skops")
    assert st["phase"] == "Healthy", st
    assert st["stableVersion"] == "2"
    assert st["history"][-1]["outcome"] == "Promoted"
    run = st["analysis"]
    assert run["runs"] == 2, run  # one analysis at 10%, one at 50%
    # The 50% run started from the 10% run's evidence against "3 points worse".
    assert run["carriedEvidence"]["accuracy"] < 0, run
    accuracy_round = measured(st)
    assert accuracy_round["phase"] == "Successful", accuracy_round
    assert "earlier analysis runs included" in accuracy_round["message"]
    print(f"\nCOMPARE-TIMING equal canary promoted after {took:.0f} s: {accuracy_round['message']}")
