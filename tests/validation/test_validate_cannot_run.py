"""`model-rollout validate` exits 2, with a message naming what and where, when it cannot judge."""

from __future__ import annotations

import json
from pathlib import Path

from tests.validation.conftest import spec_for, validate


def test_a_missing_dataset_exits_2_and_names_the_dataset(
    examples_root: Path, tmp_path: Path
) -> None:
    spec = spec_for("iris.yaml", examples_root)
    spec["validation"]["dataset"]["uri"] = f"file://{examples_root}/data/nope.csv"
    run = validate(spec, tmp_path)
    assert run.code == 2
    assert run.report["outcome"] == "error"
    assert "nope.csv" in run.report["message"]
    assert "does not exist" in run.report["message"]
    assert run.verdict["outcome"] == "error"
    assert "nope.csv" in run.verdict["message"]


def test_a_model_that_fails_to_load_exits_2_and_names_the_model(
    examples_root: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.skops"
    broken.write_bytes(b"this is not a zip file")
    spec = spec_for("iris.yaml", examples_root)
    spec["model"]["uri"] = f"file://{broken}"
    run = validate(spec, tmp_path)
    assert run.code == 2
    assert "iris:1" in run.report["message"]
    assert "broken.skops" in run.report["message"]
    assert "not a valid skops file" in run.report["message"]
    # The data checks that ran before the model was loaded are kept in the report.
    assert any(c["name"].startswith("data.") for c in run.report["checks"])


def test_an_absent_target_column_exits_2(examples_root: Path, tmp_path: Path) -> None:
    spec = spec_for("iris.yaml", examples_root)
    spec["validation"]["dataset"]["target"] = "label"
    run = validate(spec, tmp_path)
    assert run.code == 2
    assert "validation.dataset.target" in run.report["message"]
    assert "'label'" in run.report["message"]


def test_a_bad_spec_exits_2_naming_the_field(examples_root: Path, tmp_path: Path) -> None:
    spec = spec_for("iris.yaml", examples_root)
    spec["validation"]["thresholds"]["accuracy"] = {"min": "high"}
    run = validate(spec, tmp_path)
    assert run.code == 2
    assert "validation.thresholds.accuracy.min" in run.report["message"]


def test_malformed_json_exits_2(tmp_path: Path) -> None:
    run = validate("{not json", tmp_path)
    assert run.code == 2
    assert "not valid JSON" in run.report["message"]


def test_a_verdict_with_hundreds_of_failures_stays_under_4096_bytes(
    examples_root: Path, tmp_path: Path
) -> None:
    spec = spec_for("iris.yaml", examples_root)
    spec["validation"]["schema"] = [
        {"name": f"a_column_that_is_not_there_with_a_long_name_{i:03d}", "type": "float"}
        for i in range(300)
    ]
    run = validate(spec, tmp_path)
    assert run.code == 1
    assert len(run.failed) == 300
    assert len(run.verdict_bytes) < 4096
    verdict = json.loads(run.verdict_bytes)
    assert verdict["passed"] is False
    assert len(verdict["failed"]) + verdict["failedOmitted"] == 300


def test_the_spec_can_come_from_the_environment(examples_root: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    verdict = tmp_path / "v.json"
    env = dict(
        os.environ, MODEL_ROLLOUT_VALIDATION_SPEC=json.dumps(spec_for("iris.yaml", examples_root))
    )
    done = subprocess.run(
        [str(Path(sys.executable).with_name("model-rollout")), "validate",
         "--termination-message-path", str(verdict)],
        env=env, check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(verdict.read_bytes())["passed"] is True


def test_a_run_past_its_timeout_exits_2_and_says_so(examples_root: Path, tmp_path: Path) -> None:
    spec = spec_for("iris-slow.yaml", examples_root)
    spec["validation"]["timeout"] = "2s"
    run = validate(spec, tmp_path)
    assert run.code == 2
    assert "did not finish within its timeout of 2s" in run.verdict["message"]
