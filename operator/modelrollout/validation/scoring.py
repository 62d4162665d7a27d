"""Score a model on the evaluated rows: load it, build its inputs, predict, measure quality.

Called by `runner` for the candidate and for the stable model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelrollout import api
from modelrollout.models import loading
from modelrollout.validation import features, quality, table
from modelrollout.validation.results import CouldNotRun


def load_model(spec: api.ModelSpec) -> loading.LoadedModel:
    try:
        return loading.load_model(
            uri=spec.uri,
            format=spec.format,
            sha256=spec.sha256,
            allow_unsafe_pickle=spec.allow_unsafe_pickle,
            name=f"{spec.name}:{spec.version}",
        )
    except loading.ModelLoadError as e:
        raise CouldNotRun(str(e)) from e


@dataclass(frozen=True)
class Scored:
    """One model's predictions on the evaluated rows, and the metrics they earn."""

    model: loading.LoadedModel
    features: np.ndarray
    feature_names: list[str]
    y_true: np.ndarray
    """The true labels (or values), in the type the predictions are compared in."""
    predictions: np.ndarray
    proba: np.ndarray | None
    metrics: dict[str, float | None]


def _predict(model: loading.LoadedModel, rows: np.ndarray, *, how: str = "predict") -> Any:
    try:
        return model.predict_proba(rows) if how == "predict_proba" else model.predict(rows)
    except Exception as e:
        raise CouldNotRun(
            f"model {model.name!r} failed to {how} on the dataset ({type(e).__name__}: {e}); "
            "check that the dataset has the model's features in training order"
        ) from e


def score(
    model: loading.LoadedModel,
    data: table.Table,
    *,
    target: str,
    group_column: str | None,
    expected: features.Expected | None = None,
) -> Scored:
    names = features.feature_columns(
        data,
        model_name=model.name,
        feature_names=model.feature_names,
        n_features=model.n_features_in,
        target=target,
        group_column=group_column,
        expected=expected,
    )
    x = features.matrix(data, names)
    y_true = features.targets(data[target], kind=model.kind, classes=model.classes)
    y_pred = features.as_labels(_predict(model, x), like=y_true)
    proba = _predict(model, x, how="predict_proba") if model.kind == "classifier" else None
    measured = quality.metrics(
        kind=model.kind, y_true=y_true, y_pred=y_pred, proba=proba, classes=model.classes
    )
    return Scored(model, x, names, y_true, y_pred, proba, measured)
