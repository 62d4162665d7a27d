"""Turn a dataset table into what a model takes: the feature matrix and the true labels or values.

Pure; the runner calls it once per model (the stable model may use other columns than the candidate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelrollout.validation import table
from modelrollout.validation.results import CouldNotRun


@dataclass(frozen=True)
class Expected:
    """What the spec says the columns are called, for a model that does not name its features.

    Such a model takes columns by position, so a dataset with the right number of wrongly named
    columns would be scored without a word: these names are what it is checked against.
    """

    dataset: str
    """The dataset's URI, for messages."""
    declared: Sequence[str] = ()
    """validation.schema's columns (the list may be partial)."""
    reference: Sequence[str] | None = None
    """referenceDataset's columns in file order (the data models are trained on), if given."""
    reference_target: str | None = None


def feature_columns(
    data: table.Table,
    *,
    model_name: str,
    feature_names: Sequence[str] | None,
    n_features: int | None,
    target: str,
    group_column: str | None = None,
    expected: Expected | None = None,
) -> list[str]:
    """Which columns, in which order, the model takes.

    A model fitted on named columns takes those. Otherwise it takes every column but the target,
    in file order; the fairness group column is left out too unless the model's feature count
    says it was trained on it. Those columns must then be the ones `expected` names.
    """
    if feature_names is not None:
        absent = [n for n in feature_names if n not in data]
        if absent:
            raise CouldNotRun(
                f"model {model_name!r} was trained on columns the dataset lacks: "
                f"{', '.join(absent)}; expected (the model's features, in order): "
                f"{_listed(feature_names)}; found: {_listed(data.names)}; rename the "
                "dataset's columns or point at the right dataset"
            )
        return list(feature_names)
    columns = _by_position(
        data, model_name=model_name, n_features=n_features, target=target, group_column=group_column
    )
    if expected is not None:
        left_out = {target, group_column} - set(columns)
        _check_names(
            columns, data=data, model_name=model_name, left_out=left_out, expected=expected
        )
    return columns


def _check_names(
    columns: list[str],
    *,
    data: table.Table,
    model_name: str,
    left_out: set[str | None],
    expected: Expected,
) -> None:
    declared = [n for n in expected.declared if n not in left_out]
    # A schema may declare only some columns (those it bounds); one that declares as many
    # features as the model takes is declaring the model's features.
    if len(declared) == len(columns) and set(declared) != set(columns):
        raise CouldNotRun(
            f"the feature columns of the dataset {expected.dataset} are not those validation.schema "
            f"declares, and model {model_name!r} does not name its features, so it would be fed "
            f"other columns by position; expected (declared): {_listed(declared)}; found: "
            f"{_listed(columns)}; rename the dataset's columns or fix validation.schema"
        )
    if expected.reference is None:
        return
    skip = left_out | {expected.reference_target}
    trained = [n for n in expected.reference if n not in skip]
    # Only a feature set of the same size can be this model's: a candidate may add or drop
    # features against the stable's training data, and its feature count is checked on its own.
    if len(trained) == len(columns) and trained != columns:
        order = " (the same names in another order)" if sorted(trained) == sorted(columns) else ""
        raise CouldNotRun(
            f"the feature columns of the dataset {expected.dataset} are not those of the "
            f"reference dataset{order}, and model {model_name!r} does not name its features, so "
            f"it takes them by position; expected (the reference's, in order): "
            f"{_listed(trained)}; found: {_listed(columns)}; make the dataset's header match "
            "the data the model was trained on"
        )


def _listed(names: Sequence[str], *, most: int = 12) -> str:
    # A dataset can have hundreds of columns; the message must still end in what to do.
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def _by_position(
    data: table.Table,
    *,
    model_name: str,
    n_features: int | None,
    target: str,
    group_column: str | None,
) -> list[str]:
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
