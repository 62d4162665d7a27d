"""Fairness: the largest gap of one quality metric between the groups of a declared column.

Pure; called by the runner with the candidate's predictions on every evaluated row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modelrollout.validation import quality, results
from modelrollout.validation.results import CheckResult

MISSING_GROUP = "(missing)"


def check(
    *,
    groups: np.ndarray,
    metric: str,
    max_gap: float,
    kind: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    group_column: str,
) -> CheckResult:
    """Gap = best group's metric minus worst group's; rows without a group form their own group."""
    labels = np.array([MISSING_GROUP if g is None else str(g) for g in groups], dtype=object)
    per_group: dict[str, dict[str, Any]] = {}
    for group in sorted(set(labels.tolist())):
        rows = labels == group
        measured = quality.metrics(
            kind=kind,
            y_true=y_true[rows],
            y_pred=y_pred[rows],
            proba=None if proba is None else proba[rows],
            classes=classes,
        )
        per_group[group] = {"rows": int(rows.sum()), metric: measured[metric]}
    scored = {g: v[metric] for g, v in per_group.items() if v[metric] is not None}
    name = f"fairness.{metric}Gap"
    if not scored:
        return results.bounded(name, value=None, max=max_gap, details={"groups": per_group})
    best = max(scored, key=lambda g: scored[g])
    worst = min(scored, key=lambda g: scored[g])
    if metric not in quality.HIGHER_IS_BETTER:
        best, worst = worst, best
    gap = abs(scored[best] - scored[worst])
    outcome = results.bounded(
        name,
        value=gap,
        max=max_gap,
        what=f"gap in {metric} between groups of {group_column}",
        details={"groups": per_group, "best": best, "worst": worst},
    )
    if len(scored) < 2:
        note = f" (only one group, {best!r}, has rows: nothing to compare)"
    else:
        note = f" ({best!r}: {results.fmt(scored[best])}, {worst!r}: {results.fmt(scored[worst])})"
    return CheckResult(
        name=outcome.name,
        passed=outcome.passed,
        value=outcome.value,
        max=outcome.max,
        message=outcome.message + note,
        details=outcome.details,
    )
