"""The generated CRD on a real API server: examples are accepted, bad manifests rejected by rule."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout import api
from tests.testbed_client import Testbed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
CRD = ROOT / "crds" / "modelrollout.io_modeldeployments.yaml"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

VALID: dict[str, Any] = {
    "apiVersion": api.API_VERSION,
    "kind": api.KIND,
    "metadata": {"name": "crd-check"},
    "spec": {
        "model": {"name": "iris", "version": "2", "uri": "s3://models/iris/2/model.skops"},
        "serving": {"replicas": 2, "resources": {"requests": {"cpu": 1, "memory": "256Mi"}}},
        "validation": {
            "dataset": {"uri": "pvc://data/iris.csv", "target": "species"},
            "referenceDataset": {"uri": "file:///data/train.csv"},
            "schema": [{"name": "sex", "type": "string"}],
            "maxDrift": 0.2,
            "thresholds": {"accuracy": {"min": 0.9}, "latencyP99Ms": {"max": 20}},
            "fairness": {"groupColumn": "sex", "maxGap": 0.05},
            "compareWithStable": {"metric": "accuracy", "maxDrop": 0.01},
        },
        "rollout": {"steps": [{"setWeight": 10}, {"pause": {"duration": "30s"}}, {"analysis": {}}]},
        "analysis": {
            "prometheus": {"address": "http://prometheus.monitoring:9090"},
            "metrics": [
                {"name": "accuracy", "min": 0.9},
                {"name": "error_rate", "compare": {"maxIncrease": 0.01}},
            ],
        },
    },
}


def change(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set (or with value None, delete) a dotted path under spec; digits index lists."""

    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc["spec"]
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is None:
            del node[int(last) if last.isdigit() else last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return edit


# (what is wrong, the edit, words naming the field, words naming the rule)
INVALID = [
    ("joblib without opt-in", change("model.format", "joblib"),
     "spec.model.allowUnsafePickle", "allowUnsafePickle: true"),
    ("unknown model format", change("model.format", "pickle"),
     "spec.model.format", 'supported values: "skops", "joblib", "onnx"'),
    ("ftp uri", change("model.uri", "ftp://host/m.skops"), "spec.model.uri", "should match"),
    ("pvc uri without path", change("model.uri", "pvc://claim"), "spec.model.uri", "should match"),
    ("version with a space", change("model.version", "v 2"), "spec.model.version", "should match"),
    ("short sha256", change("model.sha256", "abc"), "spec.model.sha256", "should match"),
    ("missing uri", change("model.uri", None), "spec.model.uri", "Required value"),
    ("zero replicas", change("serving.replicas", 0),
     "spec.serving.replicas", "greater than or equal to 1"),
    ("port out of range", change("serving.port", 70000),
     "spec.serving.port", "less than or equal to 65535"),
    ("weight above 100", change("rollout.steps.0", {"setWeight": 101}),
     "spec.rollout.steps[0].setWeight", "less than or equal to 100"),
    ("negative weight", change("rollout.steps.0", {"setWeight": -1}),
     "spec.rollout.steps[0].setWeight", "greater than or equal to 0"),
    ("step with two actions", change("rollout.steps.0", {"setWeight": 10, "pause": {}}),
     "spec.rollout.steps[0]", "exactly one of setWeight, pause or analysis"),
    ("empty step", change("rollout.steps.0", {}),
     "spec.rollout.steps[0]", "exactly one of setWeight, pause or analysis"),
    ("pause duration without unit", change("rollout.steps.1", {"pause": {"duration": "30"}}),
     "spec.rollout.steps[1].pause.duration", "should match"),
    ("two traffic routers", change("rollout.trafficRouting", {"none": {}, "gatewayAPI": {"httpRoute": "r"}}),
     "spec.rollout.trafficRouting", "at most one traffic router"),
    ("analysis step without analysis", change("analysis", None),
     "spec.analysis", "an analysis step needs spec.analysis"),
    ("custom metric without query", change("analysis.metrics.1", {"name": "queue", "max": 5}),
     "spec.analysis.metrics[1].query", "give this metric a PromQL query"),
    ("metric without bounds", change("analysis.metrics.0", {"name": "accuracy"}),
     "spec.analysis.metrics[0]", "min, max or compare"),
    ("metric min above max", change("analysis.metrics.0", {"name": "accuracy", "min": 2, "max": 1}),
     "spec.analysis.metrics[0]", "min must not exceed max"),
    ("duplicate metric names", change("analysis.metrics.1", {"name": "accuracy", "max": 1}),
     "spec.analysis.metrics[1]", "Duplicate value"),
    ("comparison with two margins", change("analysis.metrics.1", {"name": "error_rate",
     "compare": {"maxDrop": 0.1, "maxIncrease": 0.1}}),
     "spec.analysis.metrics[1].compare", "exactly one of maxDrop"),
    ("confidence below 0.5", change("analysis.metrics.1", {"name": "error_rate",
     "compare": {"maxIncrease": 0.1, "confidence": 0.2}}),
     "spec.analysis.metrics[1].compare.confidence", "greater than or equal to 0.5"),
    ("prometheus address without scheme", change("analysis.prometheus.address", "prometheus:9090"),
     "spec.analysis.prometheus.address", "should match"),
    ("negative failure limit", change("analysis.failureLimit", -1),
     "spec.analysis.failureLimit", "greater than or equal to 0"),
    ("threshold with neither bound", change("validation.thresholds.accuracy", {}),
     "spec.validation.thresholds.accuracy", "set min, max or both"),
    ("unknown threshold metric", change("validation.thresholds.precision", {"min": 0.5}),
     "spec.validation.thresholds.precision", "unknown field"),
    ("drift without reference", change("validation.referenceDataset", None),
     "spec.validation.maxDrift", "maxDrift needs a referenceDataset"),
    ("fairness on an undeclared column", change("validation.fairness.groupColumn", "age"),
     "spec.validation.fairness.groupColumn", "must be one of the columns declared"),
    ("dataset without target", change("validation.dataset.target", None),
     "spec.validation.dataset.target", "Required value"),
    ("parquet typo", change("validation.dataset.format", "parket"),
     "spec.validation.dataset.format", "supported values"),
    ("timeout without unit", change("validation.timeout", "10"),
     "spec.validation.timeout", "should match"),
    ("misspelt rollback field", change("rollback", {"automatc": True}),
     "spec.rollback.automatc", "unknown field"),
]  # fmt: skip


@pytest.fixture(scope="module")
def crd(testbed: Testbed) -> str:
    """The CRD applied and established. It is left in place: other tests' resources depend on it."""
    testbed.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    name = f"{api.PLURAL}.{api.GROUP}"
    testbed.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    return name


def dry_run(testbed: Testbed, namespace: str, doc: dict[str, Any]) -> Any:
    return testbed.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-",
        input=yaml.safe_dump(doc), check=False,
    )  # fmt: skip


def test_the_crd_is_established_with_its_short_names_and_columns(
    testbed: Testbed, crd: str
) -> None:
    found = testbed.get(f"crd/{crd}")
    assert found["spec"]["names"]["shortNames"] == ["md", "mdep"]
    resources = testbed.kubectl("api-resources", "--api-group", api.GROUP).stdout
    assert "mdep" in resources


def test_a_full_valid_manifest_is_accepted(testbed: Testbed, namespace: str, crd: str) -> None:
    done = dry_run(testbed, namespace, VALID)
    assert done.returncode == 0, done.stderr


def test_defaults_are_filled_in_by_the_api_server(
    testbed: Testbed, namespace: str, crd: str
) -> None:
    doc = copy.deepcopy(VALID)
    doc["metadata"]["name"] = "defaults"
    testbed.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    stored = testbed.get("modeldeployment", "defaults", "-n", namespace)["spec"]
    assert stored["model"]["format"] == "skops"
    assert stored["serving"]["port"] == 8080
    assert stored["validation"]["timeout"] == "10m"
    listed = testbed.kubectl("get", "md", "-n", namespace).stdout
    assert listed.split()[:6] == ["NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "STEP"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_accepted(
    testbed: Testbed, namespace: str, crd: str, example: Path
) -> None:
    docs = [d for d in yaml.safe_load_all(example.read_text()) if d and d.get("kind") == api.KIND]
    if not docs:
        pytest.skip(f"{example.name} holds no ModelDeployment")
    for doc in docs:
        done = dry_run(testbed, namespace, doc)
        assert done.returncode == 0, f"{example.name}: {done.stderr}"


@pytest.mark.parametrize("case", INVALID, ids=[case[0] for case in INVALID])
def test_an_invalid_manifest_is_rejected_naming_the_field_and_the_rule(
    testbed: Testbed,
    namespace: str,
    crd: str,
    case: tuple[str, Callable[[dict[str, Any]], None], str, str],
) -> None:
    _, edit, field, rule = case
    doc = copy.deepcopy(VALID)
    edit(doc)
    done = dry_run(testbed, namespace, doc)
    assert done.returncode != 0, f"accepted, though it should break: {rule}"
    assert field in done.stderr, done.stderr
    assert rule in done.stderr, done.stderr


def test_the_status_the_brain_writes_is_accepted_by_the_status_subresource(
    testbed: Testbed, namespace: str, crd: str
) -> None:
    from tests.unit.rollout.world import ANALYSIS, World, healthy, make_spec
    from tests.unit.rollout.world import run as drive

    doc = copy.deepcopy(VALID)
    doc["metadata"]["name"] = "with-status"
    testbed.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    spec = make_spec("2", rollout={"steps": [{"setWeight": 10}, {"analysis": {}}]},
                     analysis=ANALYSIS)  # fmt: skip
    status, _ = drive(spec, healthy("1"), World(stable="1"),
                      until=lambda s: s.analysis is not None and s.analysis.rounds > 0)  # fmt: skip
    body = {"status": status.model_dump(by_alias=True, exclude_none=True, mode="json")}
    testbed.kubectl(
        "patch", "modeldeployment", "with-status", "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps(body),
    )  # fmt: skip
    stored = testbed.get("modeldeployment", "with-status", "-n", namespace)["status"]
    assert api.ModelDeploymentStatus.model_validate(stored) == status
    listed = testbed.kubectl("get", "mdep", "with-status", "-n", namespace).stdout.split()
    # NAME PHASE STABLE CANARY WEIGHT STEP AGE, then the row
    assert listed[7:12] == ["with-status", "Progressing", "1", "2", "10"]
