"""Fairness gaps, robustness under noise, and the comparison with the stable model."""

from __future__ import annotations

import numpy as np
import pytest

from modelrollout.validation import compare, fairness, robustness

pytestmark = pytest.mark.unit


def _obj(*xs: object) -> np.ndarray:
    return np.array(xs, dtype=object)


def test_the_fairness_gap_is_best_group_minus_worst_group() -> None:
    result = fairness.check(
        groups=_obj("f", "f", "m", "m", None),
        metric="accuracy",
        max_gap=0.2,
        kind="classifier",
        y_true=_obj("a", "a", "a", "a", "a"),
        y_pred=_obj("a", "a", "a", "b", "b"),
        group_column="sex",
    )
    assert result.name == "fairness.accuracyGap"
    assert result.value == 1.0  # f: 1.0, (missing): 0.0
    assert not result.passed
    assert result.details["groups"]["m"] == {"rows": 2, "accuracy": 0.5}
    assert result.details["worst"] == "(missing)"
    assert "'f': 1, '(missing)': 0" in result.message


def test_for_an_error_metric_the_worst_group_has_the_largest_error() -> None:
    result = fairness.check(
        groups=_obj("x", "x", "y", "y"),
        metric="mae",
        max_gap=5.0,
        kind="regressor",
        y_true=np.array([1.0, 1.0, 1.0, 1.0]),
        y_pred=np.array([1.0, 2.0, 5.0, 9.0]),
        group_column="g",
    )
    assert result.value == pytest.approx(6.0 - 0.5)
    assert (result.details["best"], result.details["worst"]) == ("x", "y")
    assert not result.passed


def test_one_group_alone_has_no_gap_and_says_so() -> None:
    result = fairness.check(
        groups=_obj("only", "only"),
        metric="accuracy",
        max_gap=0.0,
        kind="classifier",
        y_true=_obj("a", "b"),
        y_pred=_obj("a", "a"),
        group_column="g",
    )
    assert result.passed
    assert "only one group" in result.message


def test_noise_is_seeded_relative_and_leaves_code_columns_alone() -> None:
    x = np.array([[100.0, 2.0], [200.0, 3.0]] * 50)
    columns = np.array([True, False])
    a = robustness.perturb(x, noise=0.01, columns=columns)
    b = robustness.perturb(x, noise=0.01, columns=columns)
    assert np.array_equal(a, b)
    assert np.array_equal(a[:, 1], x[:, 1])
    relative = a[:, 0] / x[:, 0] - 1
    assert 0.005 < float(np.std(relative)) < 0.015


def test_classifier_stability_is_the_share_of_unchanged_labels() -> None:
    before, after = _obj("a", "a", "b", "b"), _obj("a", "b", "b", "b")
    assert robustness.stability(kind="classifier", before=before, after=after, noise=0.01) == 0.75


def test_regressor_predictions_count_as_stable_within_a_noise_scaled_tolerance() -> None:
    before = np.array([0.0, 10.0, 20.0, 30.0])  # std ~11.2: tolerance at 1% noise ~1.12
    after = before + np.array([0.5, 1.0, 1.2, 5.0])
    assert robustness.stability(kind="regressor", before=before, after=after, noise=0.01) == 0.5


def test_a_model_that_ignores_small_noise_passes_the_robustness_check() -> None:
    x = np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0]])

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.where(rows[:, 0] > 1.5, "big", "small").astype(object)

    result = robustness.check(
        predict,
        x,
        kind="classifier",
        noise=0.01,
        min_stability=0.99,
        columns=np.array([True, True]),
        before=predict(x),
    )
    assert result.passed
    assert result.value == 1.0
    assert result.details == {"perturbedFeatures": 2, "noise": 0.01}


def test_a_drop_counts_decreases_of_scores_and_increases_of_errors() -> None:
    assert compare.drop("accuracy", candidate=0.90, stable=0.95) == pytest.approx(0.05)
    assert compare.drop("rmse", candidate=12.0, stable=10.0) == pytest.approx(2.0)
    assert compare.drop("r2", candidate=0.5, stable=0.4) == pytest.approx(-0.1)


def test_the_comparison_fails_beyond_the_allowed_drop_and_names_both_values() -> None:
    result = compare.check(
        "accuracy", candidate=0.9, stable=0.95, max_drop=0.01, stable_version="7"
    )
    assert result.name == "compareWithStable.accuracy"
    assert not result.passed
    assert result.value == pytest.approx(0.05)
    assert "stable version 7" in result.message
    assert "candidate 0.9, stable 0.95" in result.message
    ok = compare.check("accuracy", candidate=0.96, stable=0.95, max_drop=0.0, stable_version="7")
    assert ok.passed
