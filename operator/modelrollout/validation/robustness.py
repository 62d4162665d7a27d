"""Robustness: the share of predictions that stay the same under small relative Gaussian noise.

Pure and seeded: the same dataset and noise give the same perturbation on every run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from modelrollout.validation import results
from modelrollout.validation.results import CheckResult

SEED = 20240601
# A regression prediction "stays the same" when it moves by at most this many noise levels of the
# predictions' own spread: a model whose output moves in proportion to its input passes.
REGRESSION_TOLERANCE = 10.0


def perturb(
    features: np.ndarray, *, noise: float, columns: np.ndarray, seed: int = SEED
) -> np.ndarray:
    """x * (1 + noise * N(0, 1)) on the chosen columns; other columns (codes, counts) unchanged."""
    rng = np.random.default_rng(seed)
    factor = 1.0 + noise * rng.standard_normal(features.shape)
    factor[:, ~columns] = 1.0
    return features * factor


def stability(*, kind: str, before: np.ndarray, after: np.ndarray, noise: float) -> float | None:
    """Share of rows whose prediction did not change (regressors: within the tolerance)."""
    if not len(before):
        return None
    if kind == "classifier":
        return float(np.mean(before == after))
    b, a = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    tolerance = REGRESSION_TOLERANCE * noise * float(np.std(b))
    return float(np.mean(np.abs(a - b) <= tolerance))


def check(
    predict: Callable[[np.ndarray], np.ndarray],
    features: np.ndarray,
    *,
    kind: str,
    noise: float,
    min_stability: float,
    columns: np.ndarray,
    before: np.ndarray,
) -> CheckResult:
    """Predict on a perturbed copy of the rows and compare with the unperturbed predictions."""
    if not columns.any():
        return CheckResult(
            name="robustness.stability",
            passed=True,
            value=1.0,
            min=min_stability,
            message="no continuous feature to perturb: every feature is integer-valued",
        )
    after = predict(perturb(features, noise=noise, columns=columns))
    value = stability(kind=kind, before=before, after=after, noise=noise)
    return results.bounded(
        "robustness.stability",
        value=value,
        min=min_stability,
        what=f"share of predictions unchanged under {results.fmt(noise * 100)}% noise",
        details={"perturbedFeatures": int(columns.sum()), "noise": noise},
    )
