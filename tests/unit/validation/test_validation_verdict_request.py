"""The report and the 4096-byte verdict, and parsing of the validator's JSON input."""

from __future__ import annotations

import json

import pytest

from modelrollout.validation import request, verdict
from modelrollout.validation.results import CheckResult, CouldNotRun, bounded

pytestmark = pytest.mark.unit

MODEL = {"name": "iris", "version": "2", "uri": "file:///m/iris.skops"}
VALIDATION = {"dataset": {"uri": "file:///d/test.csv", "target": "species"}}


def test_the_outcome_and_exit_code_follow_the_checks() -> None:
    ok = bounded("quality.accuracy", value=0.95, min=0.9)
    bad = bounded("latency.latencyP99Ms", value=80.0, max=20.0, what="latencyP99Ms")
    passed = verdict.report(checks=[ok], subject="model m", context={})
    failed = verdict.report(checks=[ok, bad], subject="model m", context={})
    error = verdict.report(checks=[ok], error="no dataset", subject="model m", context={})
    assert (passed["outcome"], passed["exitCode"]) == ("passed", 0)
    assert (failed["outcome"], failed["exitCode"]) == ("failed", 1)
    assert (error["outcome"], error["exitCode"]) == ("error", 2)
    assert failed["failed"] == ["latency.latencyP99Ms"]
    assert failed["message"] == (
        "model m failed 1 of 2 checks: latency.latencyP99Ms: "
        "latencyP99Ms is 80, above the maximum 20"
    )
    assert error["message"] == "model m could not be validated: no dataset"


def test_the_verdict_names_each_failed_check_with_value_and_bound() -> None:
    full = verdict.report(
        checks=[bounded("quality.accuracy", value=0.5, min=0.9, what="accuracy")],
        subject="model m",
        context={"metrics": {"accuracy": 0.123456789}},
    )
    doc = json.loads(verdict.compact(full))
    assert doc["failed"] == [
        {
            "name": "quality.accuracy",
            "value": 0.5,
            "min": 0.9,
            "message": "accuracy is 0.5, below the minimum 0.9",
        }
    ]
    assert doc["metrics"] == {"accuracy": 0.123457}
    assert doc["passed"] is False


@pytest.mark.parametrize("failures", [1, 10, 100, 1000])
@pytest.mark.parametrize("message_size", [10, 5000])
def test_the_verdict_always_fits_in_a_termination_message(failures: int, message_size: int) -> None:
    checks = [
        CheckResult(name=f"data.type.column_{i:04d}", passed=False, value=float(i), max=0.0,
                    message="x" * message_size)
        for i in range(failures)
    ]  # fmt: skip
    full = verdict.report(
        checks=checks,
        subject="model m",
        context={"metrics": {f"m{i}": 0.1 for i in range(50)}},
    )
    payload = verdict.compact(full)
    assert len(payload) < verdict.TERMINATION_MESSAGE_LIMIT
    doc = json.loads(payload)
    assert len(doc["failed"]) + doc.get("failedOmitted", 0) == failures
    assert doc["failed"][0]["name"] == "data.type.column_0000"


def test_figures_that_could_not_be_measured_are_null_in_valid_json() -> None:
    full = verdict.report(
        checks=[CheckResult(name="x", passed=True, details={"psi": float("nan")})],
        subject="m",
        context={"metrics": {"r2": float("inf"), "rmse": 1.0}},
    )
    assert full["metrics"] == {"r2": None, "rmse": 1.0}
    assert full["checks"][0]["details"] == {"psi": None}
    json.loads(json.dumps(full, allow_nan=False))


def test_a_long_error_message_is_cut_but_still_says_what_failed() -> None:
    full = verdict.report(checks=[], error="cannot read " + "y" * 10000, subject="m", context={})
    doc = json.loads(verdict.compact(full))
    assert doc["message"].startswith("m could not be validated: cannot read")
    assert doc["message"].endswith("...")


def test_a_complete_request_parses_into_the_api_models() -> None:
    text = json.dumps({"model": MODEL, "stable": None, "validation": VALIDATION})
    parsed = request.parse(text, source="spec.json")
    assert parsed.model.version == "2"
    assert parsed.stable is None
    assert parsed.validation.dataset.target == "species"
    assert parsed.validation.timeout == "10m"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("{", r"spec.json is not valid JSON \(line 1, column 2"),
        ("[]", "must be a JSON object"),
        (json.dumps({"model": MODEL}), "has no 'validation' section"),
        (
            json.dumps({"model": MODEL, "validation": VALIDATION, "extra": 1}),
            "unknown keys extra",
        ),
        (
            json.dumps({"model": {**MODEL, "uri": "ftp://x"}, "validation": VALIDATION}),
            "bad model spec in spec.json: model.uri",
        ),
        (
            json.dumps({"model": MODEL, "stable": {"name": "iris"}, "validation": VALIDATION}),
            "bad stable spec in spec.json: stable.version: Field required",
        ),
        (
            json.dumps({"model": MODEL, "validation": {**VALIDATION, "maxDrift": 0.2}}),
            "maxDrift needs a referenceDataset",
        ),
    ],
)
def test_a_bad_request_cannot_run_and_says_where(doc: str, expected: str) -> None:
    with pytest.raises(CouldNotRun, match=expected):
        request.parse(doc, source="spec.json")
