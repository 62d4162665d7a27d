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
    ("missing uri", change("model.uri", None), "spec.model", "set version and uri, or source"),
    ("zero replicas", change("serving.replicas", 0),
     "spec.serving.replicas", "greater than or equal to 1"),
    ("port out of range", change("serving.port", 70000),
     "spec.serving.port", "less than or equal to 65535"),
    ("grpc port on the rest port", change("serving", {"port": 9000, "grpcPort": 9000}),
     "spec.serving", "port and grpcPort must differ"),
    ("grpc port on the default rest port", change("serving", {"grpcPort": 8080}),
     "spec.serving", "port and grpcPort must differ"),
    ("grpc port zero", change("serving.grpcPort", 0),
     "spec.serving.grpcPort", "greater than or equal to 1"),
    ("feedback token set twice",
     change("serving", {"feedbackAuth": {"secretName": "fb"},
                        "env": [{"name": "MODEL_ROLLOUT_FEEDBACK_TOKEN", "value": "t"}]}),
     "spec.serving", "set feedbackAuth or an env entry named MODEL_ROLLOUT_FEEDBACK_TOKEN"),
    ("feedback secret not a name", change("serving", {"feedbackAuth": {"secretName": "Fb_1"}}),
     "spec.serving.feedbackAuth.secretName", "should match"),
    ("weight above 100", change("rollout.steps.0", {"setWeight": 101}),
     "spec.rollout.steps[0].setWeight", "less than or equal to 100"),
    ("negative weight", change("rollout.steps.0", {"setWeight": -1}),
     "spec.rollout.steps[0].setWeight", "greater than or equal to 0"),
    ("step with two actions", change("rollout.steps.0", {"setWeight": 10, "pause": {}}),
     "spec.rollout.steps[0]", "exactly one of setWeight, pause, analysis or shadow"),
    ("empty step", change("rollout.steps.0", {}),
     "spec.rollout.steps[0]", "exactly one of setWeight, pause, analysis or shadow"),
    ("pause duration without unit", change("rollout.steps.1", {"pause": {"duration": "30"}}),
     "spec.rollout.steps[1].pause.duration", "must be a duration: a number and a unit"),
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
    ("prometheus provider without its address", change("analysis.prometheus", None),
     "spec.analysis.prometheus", "provider prometheus needs its address"),
    ("http provider without its url", change("analysis.provider", "http"),
     "spec.analysis.http", "provider http needs its endpoint"),
    ("unknown metric provider", change("analysis.provider", "datadog"),
     "spec.analysis.provider", "Unsupported value"),
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
     "spec.validation.timeout", "must be a duration: a number and a unit"),
    ("misspelt rollback field", change("rollback", {"automatc": True}),
     "spec.rollback.automatc", "unknown field"),
]  # fmt: skip


def rename(name: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["metadata"]["name"] = name

    return edit


def metric(index: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return change(f"analysis.metrics.{index}", fields)


def agreement_under_gateway_mirroring(doc: dict[str, Any]) -> None:
    """A shadow step mirrored by a Gateway, judged on agreement with the stable (issue 13)."""
    doc["spec"]["rollout"] = {
        "steps": [{"shadow": {"duration": "10m", "mirror": 50}}],
        "trafficRouting": {"gatewayAPI": {"httpRoute": "iris"}},
    }
    doc["spec"]["analysis"]["metrics"][1] = {
        "name": "agreement",
        "min": 0.9,
        "query": 'sum(rate(model_shadow_agreement_total{outcome="agree"}[1m]))',
    }


# What cannot work (issue 14): each case breaks one rule, and the API server's message names the
# field and says what to do. (what is wrong, the edit, words naming the field, words of the rule)
POSITIVE = "must be more than zero: write e.g. 30s or 10m"
SYNTAX = "must be a duration: a number and a unit (ns, us, ms, s, m or h) with no sign"
AT_MOST_1 = "should be less than or equal to 1"
AT_LEAST_0 = "should be greater than or equal to 0"
SHARE = "accuracy and error_rate are shares between 0 and 1: write min and max as e.g. 0.9, not 90"
NAME_LENGTH = (
    f"a ModelDeployment name may be at most {api.MAX_NAME_LENGTH} characters: its Services are "
    "named <name>-stable and <name>-canary, and a Service name is at most 63"
)
CONFIDENCE = "confidence is a probability from 0.5 to 0.999: write e.g. 0.95"
DNS_1035 = "must start with a letter and hold only lowercase letters, digits and '-' (no '.')"
CANNOT_WORK = [
    # Durations that must be positive: zero in any spelling, and no sign.
    ("zero analysis interval", change("analysis.interval", "0s"), "spec.analysis.interval", POSITIVE),
    ("zero analysis interval in two units", change("analysis.interval", "0m0s"),
     "spec.analysis.interval", POSITIVE),
    ("negative analysis interval", change("analysis.interval", "-30s"),
     "spec.analysis.interval", SYNTAX),
    ("zero metric interval", metric(0, name="accuracy", min=0.9, interval="0.0s"),
     "spec.analysis.metrics[0].interval", POSITIVE),
    ("zero pause", change("rollout.steps.1", {"pause": {"duration": "0s"}}),
     "spec.rollout.steps[1].pause.duration", "or leave duration out to pause until promoted"),
    ("negative pause", change("rollout.steps.1", {"pause": {"duration": "-1m"}}),
     "spec.rollout.steps[1].pause.duration", SYNTAX),
    ("zero progress deadline", change("rollout.progressDeadline", "0m"),
     "spec.rollout.progressDeadline", POSITIVE),
    ("negative progress deadline", change("rollout.progressDeadline", "-10m"),
     "spec.rollout.progressDeadline", SYNTAX),
    ("zero validation timeout", change("validation.timeout", "0s"),
     "spec.validation.timeout", POSITIVE),
    ("zero validation timeout in ms", change("validation.timeout", "0.000ms"),
     "spec.validation.timeout", POSITIVE),
    ("scale-down delay with a space", change("rollback", {"scaleDownDelay": "30 s"}),
     "spec.rollback.scaleDownDelay", SYNTAX),
    # Offline thresholds that are scores between 0 and 1, errors and times never below 0, r2 <= 1.
    ("accuracy threshold in percent", change("validation.thresholds.accuracy", {"min": 90}),
     "spec.validation.thresholds.accuracy.min", AT_MOST_1),
    ("negative accuracy threshold", change("validation.thresholds.accuracy", {"max": -0.5}),
     "spec.validation.thresholds.accuracy.max", AT_LEAST_0),
    ("f1 above 1", change("validation.thresholds.f1", {"min": 1.5}),
     "spec.validation.thresholds.f1.min", AT_MOST_1),
    ("rocAuc above 1", change("validation.thresholds.rocAuc", {"max": 2}),
     "spec.validation.thresholds.rocAuc.max", AT_MOST_1),
    ("r2 above 1", change("validation.thresholds.r2", {"min": 1.5}),
     "spec.validation.thresholds.r2.min", AT_MOST_1),
    ("negative rmse", change("validation.thresholds.rmse", {"max": -1}),
     "spec.validation.thresholds.rmse.max", AT_LEAST_0),
    ("negative mae", change("validation.thresholds.mae", {"max": -0.1}),
     "spec.validation.thresholds.mae.max", AT_LEAST_0),
    ("negative p99 latency", change("validation.thresholds.latencyP99Ms", {"max": -20}),
     "spec.validation.thresholds.latencyP99Ms.max", AT_LEAST_0),
    ("negative p50 latency", change("validation.thresholds.latencyP50Ms", {"min": -1}),
     "spec.validation.thresholds.latencyP50Ms.min", AT_LEAST_0),
    ("negative batch latency", change("validation.thresholds.batchLatencyP99Ms", {"max": -1}),
     "spec.validation.thresholds.batchLatencyP99Ms.max", AT_LEAST_0),
    ("missing ratio in percent", change("validation.maxMissingRatio", 5),
     "spec.validation.maxMissingRatio", AT_MOST_1),
    ("negative column missing ratio", change("validation.schema.0.maxMissingRatio", -0.1),
     "spec.validation.schema[0].maxMissingRatio", AT_LEAST_0),
    ("stability in percent", change("validation.robustness", {"minStability": 95}),
     "spec.validation.robustness.minStability", AT_MOST_1),
    ("zero noise", change("validation.robustness", {"minStability": 0.9, "noise": 0}),
     "spec.validation.robustness.noise", "should be greater than 0"),
    ("noise above 1", change("validation.robustness", {"minStability": 0.9, "noise": 2}),
     "spec.validation.robustness.noise", AT_MOST_1),
    ("negative drift", change("validation.maxDrift", -0.1), "spec.validation.maxDrift", AT_LEAST_0),
    ("accuracy gap in points", change("validation.fairness.maxGap", 5),
     "spec.validation.fairness.maxGap", "write maxGap as a share, e.g. 0.05 for five points"),
    ("f1 gap above 1", change("validation.fairness", {"groupColumn": "sex", "metric": "f1",
     "maxGap": 1.5}), "spec.validation.fairness.maxGap", "write maxGap as a share"),
    ("negative gap", change("validation.fairness.maxGap", -0.1),
     "spec.validation.fairness.maxGap", AT_LEAST_0),
    ("accuracy drop in points", change("validation.compareWithStable.maxDrop", 3),
     "spec.validation.compareWithStable.maxDrop", "write maxDrop as a share, e.g. 0.02"),
    ("rocAuc drop above 1", change("validation.compareWithStable", {"metric": "rocAuc",
     "maxDrop": 1.2}), "spec.validation.compareWithStable.maxDrop", "write maxDrop as a share"),
    ("negative drop", change("validation.compareWithStable.maxDrop", -0.01),
     "spec.validation.compareWithStable.maxDrop", AT_LEAST_0),
    # Online bounds of the built-in metrics, in their units.
    ("online accuracy in percent", metric(0, name="accuracy", min=90),
     "spec.analysis.metrics[0]", SHARE),
    ("online accuracy above 1", metric(0, name="accuracy", max=1.5),
     "spec.analysis.metrics[0]", SHARE),
    ("negative error rate", metric(1, name="error_rate", max=-0.1),
     "spec.analysis.metrics[1]", SHARE),
    ("negative latency", metric(1, name="latency_p99_ms", max=-1),
     "spec.analysis.metrics[1]", "latency_p99_ms is a time in milliseconds: min and max must not"),
    ("confidence of 1", metric(1, name="error_rate", compare={"maxIncrease": 0.01,
     "confidence": 1}), "spec.analysis.metrics[1].compare.confidence", CONFIDENCE),
    ("confidence of 0", metric(1, name="error_rate", compare={"maxIncrease": 0.01,
     "confidence": 0}), "spec.analysis.metrics[1].compare.confidence", CONFIDENCE),
    ("confidence of 0.9999", metric(1, name="error_rate", compare={"maxIncrease": 0.01,
     "confidence": 0.9999}), "spec.analysis.metrics[1].compare.confidence", CONFIDENCE),
    # The margin each metric's comparison can test.
    ("error rate margin of 1.5", metric(1, name="error_rate", compare={"maxIncrease": 1.5}),
     "spec.analysis.metrics[1].compare", "a compare margin must be below 1"),
    ("accuracy margin of 1", metric(0, name="accuracy", compare={"maxDrop": 1}),
     "spec.analysis.metrics[0].compare", "a compare margin must be below 1"),
    ("error rate with a ratio", metric(1, name="error_rate", compare={"maxIncreaseRatio": 0.5}),
     "spec.analysis.metrics[1].compare", "compare it with maxIncrease, e.g. 0.01"),
    ("error rate with a drop", metric(1, name="error_rate", compare={"maxDrop": 0.01}),
     "spec.analysis.metrics[1].compare", "compare it with maxIncrease, e.g. 0.01"),
    ("accuracy with a ratio", metric(0, name="accuracy", compare={"maxIncreaseRatio": 0.1}),
     "spec.analysis.metrics[0].compare", "compare it with maxDrop, e.g. 0.02"),
    ("accuracy with an increase", metric(0, name="accuracy", compare={"maxIncrease": 0.02}),
     "spec.analysis.metrics[0].compare", "compare it with maxDrop, e.g. 0.02"),
    ("latency with a drop", metric(1, name="latency_p99_ms", compare={"maxDrop": 5}),
     "spec.analysis.metrics[1].compare", "compare it with maxIncreaseRatio (e.g. 0.2"),
    ("latency 200 times slower", metric(1, name="latency_p99_ms",
     compare={"maxIncreaseRatio": 200}), "spec.analysis.metrics[1].compare.maxIncreaseRatio",
     "should be less than or equal to 100"),
    ("latency ratio of 0", metric(1, name="latency_p99_ms", compare={"maxIncreaseRatio": 0}),
     "spec.analysis.metrics[1].compare.maxIncreaseRatio", "should be greater than 0"),
    ("custom metric compared", metric(1, name="queue", query="sum(q)",
     compare={"maxIncrease": 1}), "spec.analysis.metrics[1].compare",
     "judge this metric with min or max"),
    ("agreement under gateway mirroring", agreement_under_gateway_mirroring,
     "spec.analysis.metrics", "use the replicaRatio router to measure agreement"),
    # Names its children cannot carry.
    ("name one character too long", rename("m" * (api.MAX_NAME_LENGTH + 1)),
     "metadata.name", NAME_LENGTH),
    ("name of 63 characters", rename("m" * 63), "metadata.name", NAME_LENGTH),
    ("name starting with a digit", rename("1st-model"), "metadata.name", DNS_1035),
    ("name with a dot", rename("iris.v2"), "metadata.name", DNS_1035),
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


@pytest.mark.parametrize("case", CANNOT_WORK, ids=[case[0] for case in CANNOT_WORK])
def test_what_cannot_work_is_refused_naming_the_field_and_what_to_do(
    testbed: Testbed,
    namespace: str,
    crd: str,
    case: tuple[str, Callable[[dict[str, Any]], None], str, str],
) -> None:
    _, edit, field, rule = case
    doc = copy.deepcopy(VALID)
    edit(doc)
    done = dry_run(testbed, namespace, doc)
    assert done.returncode != 0, f"accepted, though it cannot work: {rule}"
    assert f"{field}: " in done.stderr, done.stderr
    assert rule in done.stderr, done.stderr


def test_the_cannot_work_manifests_are_distinct_and_many() -> None:
    docs = []
    for _, edit, _, _ in CANNOT_WORK:
        doc = copy.deepcopy(VALID)
        edit(doc)
        docs.append(json.dumps(doc, sort_keys=True))
    assert len(set(docs)) == len(CANNOT_WORK) >= 40


def test_the_longest_name_and_edge_values_are_accepted(
    testbed: Testbed, namespace: str, crd: str
) -> None:
    doc = copy.deepcopy(VALID)
    doc["metadata"]["name"] = "m" * api.MAX_NAME_LENGTH
    doc["spec"]["rollback"] = {"scaleDownDelay": "0s"}
    doc["spec"]["validation"]["thresholds"] = {"accuracy": {"min": 0, "max": 1}, "r2": {"min": -3}}
    doc["spec"]["analysis"]["metrics"] = [
        {"name": "accuracy", "compare": {"maxDrop": 0.02}},
        {"name": "latency_p99_ms", "compare": {"maxIncreaseRatio": 0.2}},
        {"name": "accuracy_pct", "query": "sum(x) * 100", "min": 90},
    ]
    done = dry_run(testbed, namespace, doc)
    assert done.returncode == 0, done.stderr


def test_a_generated_name_is_held_to_the_same_limit(
    testbed: Testbed, namespace: str, crd: str
) -> None:
    # The API server generates the name (prefix cut to 58 + 5 random) before it validates, so a long
    # generateName is refused as a long name would be.
    doc = copy.deepcopy(VALID)
    del doc["metadata"]["name"]
    doc["metadata"]["generateName"] = "m" * 60
    done = testbed.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-",
        input=yaml.safe_dump(doc), check=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout
    assert NAME_LENGTH in done.stderr, done.stderr
    doc["metadata"]["generateName"] = "m" * (api.MAX_NAME_LENGTH - 5)
    done = testbed.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-",
        input=yaml.safe_dump(doc), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


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
