"""`model-rollout validate` on the example models: each passes or fails exactly as it was built to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.validation.conftest import EXAMPLES, Run, section, spec_for, validate

CASES = [
    # (manifest, stable manifest or None for a first rollout, checks expected to fail)
    ("iris.yaml", None, set()),
    ("iris-v2.yaml", "iris.yaml", set()),
    ("iris-v2-compare.yaml", "iris.yaml", set()),
    ("iris-online-flip.yaml", "iris-v2.yaml", set()),
    ("iris-inaccurate.yaml", None, {"quality.accuracy"}),
    ("iris-slow.yaml", "iris-v2.yaml", {"latency.latencyP99Ms"}),
    ("cancer.yaml", None, set()),
    ("cancer-unfair.yaml", "cancer.yaml", {"fairness.accuracyGap"}),
    ("diabetes.yaml", None, set()),
    ("diabetes-v2.yaml", "diabetes.yaml", set()),
]


@pytest.mark.parametrize(("manifest", "stable", "expected"), CASES)
def test_each_example_fails_exactly_the_check_it_was_built_to_fail(
    run_example: Callable[[str, str | None], Run],
    manifest: str,
    stable: str | None,
    expected: set[str],
) -> None:
    run = run_example(manifest, stable)
    assert run.failed == expected, run.report["message"]
    assert run.code == (1 if expected else 0)
    assert run.report["outcome"] == ("failed" if expected else "passed")
    verdict = run.verdict
    assert verdict["passed"] is not expected
    assert {f["name"] for f in verdict["failed"]} == expected
    assert len(run.verdict_bytes) < 4096
    for failed in verdict["failed"]:
        # value vs threshold, in the verdict and in words
        assert "value" in failed
        assert "min" in failed or "max" in failed
        assert failed["name"] in verdict["message"]


def test_an_inaccurate_candidate_also_fails_the_comparison_with_its_stable_version(
    examples_root: Path, tmp_path: Path
) -> None:
    run = validate(spec_for("iris-inaccurate.yaml", examples_root, stable="iris-v2.yaml"), tmp_path)
    assert run.code == 1
    assert run.failed == {"quality.accuracy", "compareWithStable.accuracy"}
    compare = next(c for c in run.report["checks"] if c["name"] == "compareWithStable.accuracy")
    assert compare["details"]["stable"] > compare["details"]["candidate"]
    assert compare["value"] == pytest.approx(
        compare["details"]["stable"] - compare["details"]["candidate"]
    )


def test_the_report_carries_every_measured_metric_and_the_model_identity(
    run_example: Callable[[str, str | None], Run],
) -> None:
    run = run_example("iris-v2.yaml", "iris.yaml")
    metrics = run.report["metrics"]
    for key in ("accuracy", "f1", "rocAuc", "latencyP50Ms", "latencyP99Ms", "batchLatencyP99Ms"):
        assert isinstance(metrics[key], float)
    assert metrics["latencyP50Ms"] <= metrics["latencyP99Ms"]
    assert run.report["model"]["version"] == "2"
    assert len(run.report["model"]["sha256"]) == 64
    assert run.report["stable"]["version"] == "1"
    assert run.report["dataset"]["rows"] == 60
    names = {c["name"] for c in run.report["checks"]}
    assert {"data.drift.petal_width", "data.range.sepal_length", "robustness.stability"} <= names
    assert "data.drift.species" not in names  # the reference names it as its target


def test_every_uri_in_the_example_manifests_names_a_file_the_script_makes(
    examples_root: Path,
) -> None:
    for manifest in sorted(p.name for p in EXAMPLES.glob("*.yaml")):
        model = section(manifest, examples_root, "model")
        validation = section(manifest, examples_root, "validation")
        datasets = [validation["dataset"], validation.get("referenceDataset")]
        uris = [model["uri"], *(d["uri"] for d in datasets if d is not None)]
        for uri in uris:
            assert uri.startswith(f"file://{examples_root}/"), manifest
            assert Path(uri.removeprefix("file://")).is_file(), f"{manifest}: {uri}"
