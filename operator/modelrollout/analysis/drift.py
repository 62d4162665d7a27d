"""Drift of live inputs from the reference dataset, per feature: bins and the population stability
index (PSI). Pure: the model server uses `bin_edges` on the reference dataset, the operator `psi`
and `worst` on the per-bin counts it reads from Prometheus.

PSI = sum over bins of (live - reference) * ln(live / reference), shares of each side. The usual
reading, followed by the default threshold (spec.monitoring.drift.maxPsi, 0.25):
below 0.1 no real shift; 0.1 to 0.25 a moderate shift worth watching; above 0.25 a major shift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# An empty bin on one side would make PSI infinite; a share this small stands in for it (the
# common choice), so one empty bin adds a large but finite amount.
EMPTY_SHARE = 1e-4
PSI_NO_SHIFT = 0.1
PSI_MAJOR_SHIFT = 0.25


def bin_edges(values: np.ndarray, *, bins: int) -> np.ndarray:
    """Interior edges of up to `bins` equal-frequency bins of the finite `values` (sorted, unique).

    Bin i holds x with edges[i-1] < x <= edges[i]; the first and last are open-ended, so every live
    value, however far out, lands in one."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or bins < 2:
        return np.empty(0)
    quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(quantiles)


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin of each value (0..len(edges)); NaN goes to the last bin (it is surely a shift)."""
    return np.searchsorted(edges, values, side="left")


def shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [0.0] * len(counts) if total <= 0 else [c / total for c in counts]


def psi(reference: Sequence[float], live: Sequence[float]) -> float:
    """PSI between two distributions over the same bins (counts or shares, normalised here)."""
    if len(reference) != len(live):
        raise ValueError(
            f"reference has {len(reference)} bins and live {len(live)}: same bins needed"
        )
    ref, now = shares(reference), shares(live)
    total = 0.0
    for ref_share, live_share in zip(ref, now, strict=True):
        r, n = max(ref_share, EMPTY_SHARE), max(live_share, EMPTY_SHARE)
        total += (n - r) * math.log(n / r)
    return total


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-square with `df` (a whole number >= 1) degrees of freedom.

    The closed form for whole df (regularised upper incomplete gamma at df/2), summed in logs so a
    huge statistic underflows to 0 instead of overflowing."""
    if df < 1:
        raise ValueError(f"chi-square needs at least 1 degree of freedom, not {df}")
    if not x > 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    half = x / 2.0
    log_half = math.log(half)
    if df % 2 == 0:
        terms = (i * log_half - math.lgamma(i + 1) for i in range(df // 2))
        head = 0.0
    else:
        terms = ((i - 0.5) * log_half - math.lgamma(i + 0.5) for i in range(1, df // 2 + 1))
        head = math.erfc(math.sqrt(half))
    return min(1.0, head + sum(math.exp(t - half) for t in terms))


def homogeneity_p(
    reference: Sequence[float], live: Sequence[float], *, reference_rows: float | None
) -> float:
    """Pearson's chi-square test that `live` counts and the reference (shares of `reference_rows`
    rows) come from one distribution: the p-value. None rows: the shares are taken as exact (a
    one-sample test), as when the model server does not say how many rows it binned."""
    if len(reference) != len(live):
        raise ValueError(
            f"reference has {len(reference)} bins and live {len(live)}: same bins needed"
        )
    n = float(sum(live))
    if n <= 0:
        return 1.0
    ref, now = shares(reference), shares(live)
    exact = reference_rows is None or reference_rows <= 0
    m = 0.0 if exact else float(reference_rows or 0)
    # Statistic N*M/(N+M) * sum (p - q)^2 / pooled; as M grows it becomes N * sum (p - q)^2 / q.
    scale = n if exact else n * m / (n + m)
    statistic, used = 0.0, 0
    for r, x in zip(ref, now, strict=True):
        pooled = r if exact else (n * x + m * r) / (n + m)
        if pooled <= 0.0:
            if x > 0.0:  # live values where an exact reference has none: surely a shift
                return 0.0
            continue  # an empty bin on both sides says nothing
        statistic += (x - r) ** 2 / pooled
        used += 1
    return 1.0 if used < 2 else chi2_sf(scale * statistic, used - 1)


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    samples: int
    """Live values counted over the window."""
    p_value: float = 1.0
    """How likely sampling alone gives a difference this large (homogeneity_p)."""


def per_feature(
    *,
    reference: Mapping[str, Sequence[float]],
    live: Mapping[str, Sequence[float]],
    reference_rows: float | None = None,
) -> list[FeatureDrift]:
    """PSI of each feature both sides know, worst first; a feature with no live values is left out."""
    found = [
        FeatureDrift(
            feature=name,
            psi=psi(reference[name], live[name]),
            samples=int(sum(live[name])),
            p_value=homogeneity_p(reference[name], live[name], reference_rows=reference_rows),
        )
        for name in sorted(reference)
        if name in live and len(live[name]) == len(reference[name]) and sum(live[name]) > 0
    ]
    return sorted(found, key=lambda d: (-d.psi, d.feature))


def judged(drifts: Sequence[FeatureDrift], *, min_samples: int) -> list[FeatureDrift]:
    """The features counted on enough live values to be judged at all, worst first."""
    return [d for d in drifts if d.samples >= min_samples]


def level(drifts: Sequence[FeatureDrift], *, min_samples: int, confidence: float) -> float:
    """The p-value under which one judged feature's shift is not chance: 1 - confidence split
    evenly over the judged features (Bonferroni), so all of them together stay within it."""
    return (1.0 - confidence) / max(1, len(judged(drifts, min_samples=min_samples)))


def worst(
    drifts: Sequence[FeatureDrift], *, max_psi: float, min_samples: int, confidence: float
) -> FeatureDrift | None:
    """The most drifted feature on at least `min_samples` live values whose PSI is over `max_psi`
    and whose p-value is under the `level`, if any."""
    under = level(drifts, min_samples=min_samples, confidence=confidence)
    for d in judged(drifts, min_samples=min_samples):
        if d.psi > max_psi and d.p_value < under:
            return d
    return None
