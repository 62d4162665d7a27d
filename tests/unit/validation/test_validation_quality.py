"""Quality metrics against hand-computed values, and the threshold checks on them."""

from __future__ import annotations

import numpy as np
import pytest

from modelrollout import api
from modelrollout.validation import quality
from modelrollout.validation.results import CouldNotRun

pytestmark = pytest.mark.unit


def _labels(*xs: str) -> np.ndarray:
    return np.array(xs, dtype=object)


def test_accuracy_and_macro_f1_match_a_hand_count() -> None:
    y_true = _labels("a", "a", "b", "b")
    y_pred = _labels("a", "b", "b", "b")
    m = quality.classification(y_true=y_true, y_pred=y_pred, proba=None, classes=None)
    assert m["accuracy"] == 0.75
    # a: precision 1, recall 0.5 -> F1 2/3; b: precision 2/3, recall 1 -> F1 0.8
    assert m["f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["rocAuc"] is None


def test_binary_roc_auc_uses_the_second_class_as_positive() -> None:
    y_true = _labels("neg", "neg", "pos", "pos")
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.35, 0.65], [0.2, 0.8]])
    m = quality.classification(y_true=y_true, y_pred=y_true, proba=proba, classes=["neg", "pos"])
    assert m["rocAuc"] == pytest.approx(0.75)


def test_multiclass_roc_auc_is_the_mean_one_vs_rest_over_classes_present() -> None:
    y_true = np.array([0.0, 1.0, 2.0])
    proba = np.eye(3)
    m = quality.classification(y_true=y_true, y_pred=y_true, proba=proba, classes=[0, 1, 2])
    assert m["rocAuc"] == 1.0
    # Class 2 absent from the rows: averaged over classes 0 and 1 instead of refusing.
    m = quality.classification(
        y_true=np.array([0.0, 1.0]),
        y_pred=np.array([0.0, 1.0]),
        proba=np.eye(3)[:2],
        classes=[0, 1, 2],
    )
    assert m["rocAuc"] == 1.0


def test_regression_metrics_match_a_hand_computation() -> None:
    m = quality.regression(
        y_true=np.array([1.0, 2.0, 3.0, 4.0]), y_pred=np.array([1.0, 2.0, 3.0, 6.0])
    )
    assert m["rmse"] == pytest.approx(1.0)
    assert m["mae"] == pytest.approx(0.5)
    assert m["r2"] == pytest.approx(1 - 4 / 5)


def test_r2_of_a_constant_target_is_undefined_rather_than_infinite() -> None:
    m = quality.regression(y_true=np.array([2.0, 2.0]), y_pred=np.array([1.0, 3.0]))
    assert m["r2"] is None


def test_every_threshold_set_becomes_one_named_check() -> None:
    thresholds = api.Thresholds.model_validate(
        {"accuracy": {"min": 0.9}, "latencyP99Ms": {"max": 20}}
    )
    results = quality.check_thresholds(
        {"accuracy": 0.8, "latencyP99Ms": 5.0}, thresholds=thresholds, kind="classifier"
    )
    by_name = {r.name: r for r in results}
    assert set(by_name) == {"quality.accuracy", "latency.latencyP99Ms"}
    assert not by_name["quality.accuracy"].passed
    assert by_name["quality.accuracy"].message == "accuracy is 0.8, below the minimum 0.9"
    assert by_name["latency.latencyP99Ms"].passed


def test_a_metric_that_could_not_be_measured_fails_its_threshold() -> None:
    thresholds = api.Thresholds.model_validate({"rocAuc": {"min": 0.9}})
    (result,) = quality.check_thresholds({"rocAuc": None}, thresholds=thresholds, kind="classifier")
    assert not result.passed
    assert "could not be measured" in result.message


def test_a_regression_threshold_on_a_classifier_cannot_be_judged() -> None:
    thresholds = api.Thresholds.model_validate({"rmse": {"max": 1}})
    with pytest.raises(CouldNotRun, match=r"validation.thresholds.rmse uses rmse.*classifier"):
        quality.check_thresholds({}, thresholds=thresholds, kind="classifier")
