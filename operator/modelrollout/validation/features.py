"""Turn a dataset table into what a model takes: the feature matrix and the true labels or values.

Pure; the runner calls it once per model (the stable model may use other columns than the candidate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelrollout.validation import table
from modelrollout.validation.results import CouldNotRun


def feature_columns(
    data: table.Table,
    *,
    model_name: str,
    feature_names: Sequence[str] | None,
    n_features: int | None,
    target: str,
    group_column: str | None = None,
) -> list[str]:
    """Which columns, in which order, the model takes.

    A model fitted on named columns takes those. Otherwise it takes every column but the target,
    in file order; the fairness group column is left out too unless the model's feature count
    says it was trained on it.
    """
    if feature_names is not None:
        absent = [n for n in feature_names if n not in data]
        if absent:
            raise CouldNotRun(
                f"model {model_name!r} was trained on columns the dataset lacks: "
                f"{', '.join(absent)}; add them to the dataset or point at the right one"
            )
        return list(feature_names)
    everything = [n for n in data.names if n != target]
    without_group = [n for n in everything if n != group_column]
    if n_features is None or n_features == len(without_group):
        return without_group
    if n_features == len(everything):
        return everything
    raise CouldNotRun(
        f"model {model_name!r} takes {n_features} features but the dataset has "
        f"{len(without_group)} columns besides the target {target!r}"
        + (f" and the group column {group_column!r}" if group_column in everything else "")
        + f" ({', '.join(without_group)}); the dataset must hold exactly the model's features, "
        "in training order, plus the target"
    )


def matrix(data: table.Table, columns: Sequence[str]) -> table.FloatArray:
    """The feature matrix; every feature must be numeric (missing cells become NaN)."""
    for name in columns:
        col = data[name]
        if not col.is_numeric:
            example = col.text[col.not_numeric][0]
            raise CouldNotRun(
                f"feature column {name!r} holds values that are not numbers (e.g. {example!r}); "
                "the model takes numeric features: encode the column or fix the dataset"
            )
    if not columns:
        return np.zeros((data.rows, 0))
    return np.column_stack([data[n].numbers for n in columns])


def targets(col: table.Column, *, kind: str, classes: Sequence[Any] | None) -> np.ndarray:
    """True labels in the model's own label type, or true values for a regressor."""
    numeric_labels = classes is not None and all(
        isinstance(c, int | float) and not isinstance(c, bool) for c in classes
    )
    if kind == "regressor" or numeric_labels:
        if not col.is_numeric:
            example = col.text[col.not_numeric][0]
            raise CouldNotRun(
                f"target column {col.name!r} holds {example!r}, but the model predicts numbers; "
                "check that the target column is the right one"
            )
        return col.numbers
    return np.array([str(t) for t in col.text], dtype=object)


def as_labels(predictions: np.ndarray, *, like: np.ndarray) -> np.ndarray:
    """Predictions in the same type as `targets` gave, so they compare equal."""
    if like.dtype == object:
        return np.array([str(p) for p in predictions], dtype=object)
    return np.asarray(predictions, dtype=np.float64)
