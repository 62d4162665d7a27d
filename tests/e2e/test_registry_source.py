"""A model registry drives rollouts: a new version registered in a real MLflow server, its alias
moved, rolls out with no manifest edit; a version that fails validation is not tried again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import support
from tests.mlflow_registry import MlflowRegistry
from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
MODEL = "iris-e2e"
POLL = "2s"


def _manifest(mlflow_url: str) -> dict[str, Any]:
    md = support.model_deployment(
        name="iris",
        version="unused",
        artifact="unused",
        prometheus_url="",
        validation={
            "dataset": {"uri": support.uri("data/iris-test.csv"), "target": "species"},
            "thresholds": {"accuracy": {"min": 0.9}},
            "timeout": "3m",
        },
        steps=[{"setWeight": 50}, {"pause": {"duration": "3s"}}],
    )
    md["spec"]["model"] = {
        "name": "iris",
        "source": {
            "mlflow": {"trackingUri": mlflow_url, "model": MODEL, "alias": "champion"},
            "pollInterval": POLL,
        },
    }
    return md


def _validation_jobs(testbed: Testbed, namespace: str, version: str) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = testbed.get(
        "jobs", "-n", namespace, "-l", f"modelrollout.io/version={version}"
    )["items"]
    return jobs


def test_a_version_registered_in_mlflow_rolls_out_and_a_failing_one_is_not_retried(
    testbed: Testbed,
    namespace: str,
    models: Path,
    operator: support.Operator,
    mlflow_registry: MlflowRegistry,
) -> None:
    v1 = mlflow_registry.register(MODEL, models / "models" / "iris-v1.skops")
    mlflow_registry.set_alias(MODEL, "champion", v1)
    support.apply(testbed, namespace, _manifest(mlflow_registry.url))
    st = support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=180)
    assert st["stableVersion"] == v1
    assert st["source"]["version"] == v1
    assert "alias 'champion'" in st["source"]["reason"]
    generation = testbed.get("md", "iris", "-n", namespace)["metadata"]["generation"]

    # A data scientist registers a better model and moves the alias; nobody touches the manifest.
    v2 = mlflow_registry.register(MODEL, models / "models" / "iris-v2.skops")
    mlflow_registry.set_alias(MODEL, "champion", v2)
    eventually(
        lambda: support.status(testbed, namespace, "iris").get("stableVersion") == v2,
        timeout=240,
        what=f"version {v2} to become stable",
    )
    st = support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=60)
    assert st["validation"]["passed"] is True
    picks = [h for h in st["history"] if h["outcome"] == "Selected"]
    assert [h["version"] for h in picks] == [v1, v2]
    assert f"replaces version {v1}" in picks[-1]["message"]
    served = testbed.get("deployment", "iris-stable", "-n", namespace)
    args = served["spec"]["template"]["spec"]["containers"][0]["args"]
    assert any(a.startswith(f"--model-uri={mlflow_registry.url}/") for a in args), args

    # An inaccurate model moved into place fails validation and never serves.
    v3 = mlflow_registry.register(MODEL, models / "models" / "iris-inaccurate.skops")
    mlflow_registry.set_alias(MODEL, "champion", v3)
    st = support.wait_phase(testbed, namespace, "iris", {"Failed", "RolledBack"}, timeout=180)
    assert st["validation"]["passed"] is False
    assert st["stableVersion"] == v2
    # The alias still points at it: many polls later it has not been tried again.
    time.sleep(12)
    st = support.status(testbed, namespace, "iris")
    assert st["phase"] in {"Failed", "RolledBack"}
    assert st["source"]["version"] == v3
    assert len(_validation_jobs(testbed, namespace, v3)) <= 1
    assert [h["version"] for h in st["history"] if h["outcome"] in {"Failed", "RolledBack"}] == [v3]
    assert testbed.get("md", "iris", "-n", namespace)["metadata"]["generation"] == generation
