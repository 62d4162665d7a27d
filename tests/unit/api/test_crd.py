"""The checked-in CRD is exactly what the models generate, and its schema is structural."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelrollout import api
from modelrollout.api import base, crd

pytestmark = pytest.mark.unit

CHECKED_IN = Path(__file__).parents[3] / "crds" / "modelrollout.io_modeldeployments.yaml"
# What a structural schema node may hold (apiextensions v1 JSONSchemaProps we use).
ALLOWED = {
    "type", "description", "properties", "items", "required", "enum", "default", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "minItems", "maxItems", "format", "additionalProperties", "x-kubernetes-validations",
    "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
}  # fmt: skip


SYNTAX = f"self.matches('{base.DURATION_PATTERN}')"
POSITIVE = "self.matches('[1-9]')"
CONFIDENCE = "self >= 0.5 && self <= 0.999"
DRIFT_CONFIDENCE = "self >= 0.5 && self <= 0.999999"
SHARE = "self >= 0.0 && self <= 1.0"


def schema() -> dict[str, Any]:
    result: dict[str, Any] = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return result


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}{{}}")


def at(path: str) -> dict[str, Any]:
    found = dict(nodes(schema()))
    return found[path]


def test_the_checked_in_crd_matches_the_models() -> None:
    assert CHECKED_IN.read_text() == crd.render(), (
        "crds/ drifted from operator/modelrollout/api: run "
        "`model-rollout crd --output crds/modelrollout.io_modeldeployments.yaml` and commit it"
    )


def test_the_crd_verb_prints_the_same_yaml_and_check_reports_drift(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "modelrollout.cli", "crd"]
    printed = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert printed == crd.render()
    stale = tmp_path / "crd.yaml"
    stale.write_text(printed.replace("md\n", "mx\n"))
    checked = subprocess.run(
        [*run, "--check", str(stale)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 1
    assert "model-rollout crd --output" in checked.stderr


def test_every_schema_node_is_structural() -> None:
    for path, node in nodes(schema()):
        assert set(node) <= ALLOWED, f"{path}: {set(node) - ALLOWED}"
        typed = "type" in node or node.get("x-kubernetes-int-or-string")
        assert typed, f"{path} has no type"
        if "properties" in node:
            assert "additionalProperties" not in node, path


def test_every_python_rule_is_a_cel_rule_in_the_crd_and_back() -> None:
    in_crd = {
        (rule["rule"], rule["message"])
        for _, node in nodes(schema())
        for rule in node.get("x-kubernetes-validations", ())
    }
    models = [m for m in vars(api).values() if isinstance(m, type) and m.__dict__.get("rules")]
    assert len(models) >= 15
    declared = {(rule.cel, rule.message) for model in models for rule in model.rules}
    declared |= {(rule.cel, rule.message) for rule in api.NAME_RULES}
    assert declared <= in_crd
    # Only field rules are in the CRD without a model's `rules`: durations', confidences', shares'.
    assert {cel for cel, _ in in_crd - declared} == {
        SYNTAX,
        POSITIVE,
        CONFIDENCE,
        DRIFT_CONFIDENCE,
        SHARE,
    }


def test_the_name_rules_sit_on_the_root_and_point_at_metadata_name() -> None:
    root = schema()
    rules = root["x-kubernetes-validations"]
    assert [r["rule"] for r in rules] == [r.cel for r in api.NAME_RULES]
    assert {r["fieldPath"] for r in rules} == {".metadata.name"}
    assert f"at most {api.MAX_NAME_LENGTH} characters" in rules[0]["message"]


def test_durations_that_must_be_positive_carry_the_rule_and_the_delay_does_not() -> None:
    def rules(path: str) -> list[str]:
        return [r["rule"] for r in at(path).get("x-kubernetes-validations", ())]

    for path in (
        ".spec.analysis.interval",
        ".spec.analysis.metrics[].interval",
        ".spec.rollout.steps[].pause.duration",
        ".spec.rollout.progressDeadline",
        ".spec.validation.timeout",
    ):
        assert rules(path) == [SYNTAX, POSITIVE], path
    assert rules(".spec.rollback.scaleDownDelay") == [SYNTAX]


def test_ratios_and_probabilities_carry_their_ranges() -> None:
    for path in (
        ".spec.validation.thresholds.accuracy.min",
        ".spec.validation.thresholds.f1.max",
        ".spec.validation.thresholds.rocAuc.min",
        ".spec.validation.maxMissingRatio",
        ".spec.validation.schema[].maxMissingRatio",
        ".spec.validation.robustness.minStability",
    ):
        assert (at(path)["minimum"], at(path)["maximum"]) == (0.0, 1.0), path
    assert at(".spec.validation.thresholds.r2.min")["maximum"] == 1.0
    assert "minimum" not in at(".spec.validation.thresholds.r2.min")
    assert at(".spec.validation.thresholds.rmse.max")["minimum"] == 0.0
    confidence = at(".spec.analysis.metrics[].compare.confidence")
    assert (confidence["minimum"], confidence["maximum"]) == (0.5, 0.999)
    assert at(".spec.analysis.metrics[].compare.maxIncreaseRatio")["maximum"] == 100.0


def test_weights_replicas_and_enums_carry_their_ranges() -> None:
    weight = at(".spec.rollout.steps[].setWeight")
    assert (weight["minimum"], weight["maximum"]) == (0, 100)
    assert at(".spec.serving.replicas")["minimum"] == 1
    assert at(".spec.model.format")["enum"] == ["skops", "joblib", "onnx"]
    assert at(".spec.model.format")["default"] == "skops"
    assert at(".status.phase")["enum"] == [p.value for p in api.Phase]
    assert at(".status.history")["maxItems"] == api.HISTORY_LIMIT
    assert at(".spec.analysis.metrics")["x-kubernetes-list-map-keys"] == ["name"]
    assert at(".spec.analysis.metrics")["minItems"] == 1


def test_the_crd_has_status_subresource_printer_columns_and_short_names() -> None:
    version = crd.build_crd()["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:4] == ["Phase", "Stable", "Canary", "Weight"]
    assert columns[-1] == "Age"
    assert crd.build_crd()["spec"]["names"]["shortNames"] == ["md", "mdep"]
    assert (
        yaml.safe_load(CHECKED_IN.read_text())["metadata"]["name"]
        == "modeldeployments.modelrollout.io"
    )
