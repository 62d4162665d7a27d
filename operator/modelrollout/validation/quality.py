"""Quality metrics (accuracy, macro F1, ROC AUC; RMSE, MAE, R2) and the threshold checks on them.

Pure; the fairness and stable-comparison checks reuse `metrics` on subsets of rows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from modelrollout import api
from modelrollout.validation import results
from modelrollout.validation.results import CheckResult, CouldNotRun

CLASSIFIER_METRICS = ("accuracy", "f1", "rocAuc")
REGRESSOR_METRICS = ("rmse", "mae", "r2")
LATENCY_METRICS = ("latencyP50Ms", "latencyP99Ms", "batchLatencyP50Ms", "batchLatencyP99Ms")
HIGHER_IS_BETTER = frozenset({"accuracy", "f1", "rocAuc", "r2"})


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> float | None:
    # One-vs-rest, macro-averaged over the classes the rows contain: a class absent from the rows
    # has no AUC, and sklearn would refuse the whole metric over it.
    aucs = []
    columns = [1] if len(classes) == 2 else range(len(classes))
    for i in columns:
        positive = y_true == classes[i]
        if positive.all() or not positive.any():
            continue
        aucs.append(float(skm.roc_auc_score(positive, proba[:, i])))
    return float(np.mean(aucs)) if aucs else None


def classification(
    *,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any] | None,
) -> dict[str, float | None]:
    if not len(y_true):
        return dict.fromkeys(CLASSIFIER_METRICS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined per-class scores count as 0 by zero_division
        f1 = float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    auc = None
    if proba is not None and classes is not None:
        # Labels compare in the type `features.targets` gave the truth: text or numbers.
        labels = [str(c) if y_true.dtype == object else c for c in classes]
        auc = _roc_auc(y_true, proba, labels)
    return {"accuracy": float(np.mean(y_true == y_pred)), "f1": f1, "rocAuc": auc}


def regression(*, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    keep = ~np.isnan(y_true)
    t, p = y_true[keep].astype(np.float64), np.asarray(y_pred, dtype=np.float64)[keep]
    if not len(t):
        return dict.fromkeys(REGRESSOR_METRICS)
    error = p - t
    spread = float(np.sum((t - t.mean()) ** 2))
    return {
        "rmse": math.sqrt(float(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - float(np.sum(error**2)) / spread if spread > 0 else None,
    }


def metrics(
    *,
    kind: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, float | None]:
    if kind == "classifier":
        return classification(y_true=y_true, y_pred=y_pred, proba=proba, classes=classes)
    return regression(y_true=y_true, y_pred=y_pred)


def require_metric(metric: str, *, kind: str, where: str) -> None:
    """A spec that asks a classifier for RMSE (or a regressor for accuracy) cannot be judged."""
    allowed = CLASSIFIER_METRICS if kind == "classifier" else REGRESSOR_METRICS
    if metric not in allowed and metric not in LATENCY_METRICS:
        raise CouldNotRun(
            f"{where} uses {metric}, which does not apply to a {kind}; "
            f"use one of {', '.join(allowed)}"
        )


def check_thresholds(
    measured: dict[str, float | None], *, thresholds: api.Thresholds, kind: str
) -> list[CheckResult]:
    """One check per threshold the spec sets, against the measured value."""
    out = []
    bounds: dict[str, dict[str, float]] = thresholds.model_dump(by_alias=True, exclude_none=True)
    for metric, bound in bounds.items():
        require_metric(metric, kind=kind, where=f"validation.thresholds.{metric}")
        family = "latency" if metric in LATENCY_METRICS else "quality"
        out.append(
            results.bounded(
                f"{family}.{metric}",
                value=measured.get(metric),
                min=bound.get("min"),
                max=bound.get("max"),
                what=metric,
            )
        )
    return out
