"""Which columns a model takes, and the true labels in the model's own label type."""

from __future__ import annotations

import numpy as np
import pytest

from modelrollout.validation import features, table
from modelrollout.validation.results import CouldNotRun

pytestmark = pytest.mark.unit

DATA = table.from_columns(
    {"a": [1, 2], "b": [3, 4], "group": [0, 1], "y": ["x", "z"]}, source="test"
)


def _columns(**kwargs: object) -> list[str]:
    return features.feature_columns(DATA, model_name="m", target="y", **kwargs)  # type: ignore[arg-type]


def test_a_model_fitted_on_named_columns_takes_those_in_its_order() -> None:
    assert _columns(feature_names=["b", "a"], n_features=2) == ["b", "a"]


def test_a_model_fitted_on_columns_the_dataset_lacks_cannot_run() -> None:
    with pytest.raises(CouldNotRun, match="trained on columns the dataset lacks: c"):
        _columns(feature_names=["a", "c"], n_features=2)


def test_the_group_column_is_a_feature_only_when_the_model_counts_it() -> None:
    assert _columns(feature_names=None, n_features=2, group_column="group") == ["a", "b"]
    assert _columns(feature_names=None, n_features=3, group_column="group") == ["a", "b", "group"]
    assert _columns(feature_names=None, n_features=3, group_column=None) == ["a", "b", "group"]


def test_a_feature_count_that_fits_no_reading_of_the_dataset_cannot_run() -> None:
    with pytest.raises(CouldNotRun, match="takes 5 features but the dataset has 2 columns"):
        _columns(feature_names=None, n_features=5, group_column="group")


def test_text_features_cannot_be_fed_to_a_numeric_model() -> None:
    with pytest.raises(CouldNotRun, match="feature column 'y' holds values that are not numbers"):
        features.matrix(DATA, ["a", "y"])
    assert features.matrix(DATA, ["a", "b"]).tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_labels_compare_as_text_unless_the_model_predicts_numbers() -> None:
    text = features.targets(DATA["y"], kind="classifier", classes=["x", "z"])
    assert text.tolist() == ["x", "z"]
    numeric = features.targets(DATA["group"], kind="classifier", classes=[0, 1])
    assert numeric.tolist() == [0.0, 1.0]
    assert features.as_labels(np.array([1, 0]), like=numeric).tolist() == [1.0, 0.0]
    with pytest.raises(CouldNotRun, match="target column 'y' holds 'x'"):
        features.targets(DATA["y"], kind="regressor", classes=None)
