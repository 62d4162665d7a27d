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


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    samples: int
    """Live values counted over the window."""


def per_feature(
    *, reference: Mapping[str, Sequence[float]], live: Mapping[str, Sequence[float]]
) -> list[FeatureDrift]:
    """PSI of each feature both sides know, worst first; a feature with no live values is left out."""
    found = [
        FeatureDrift(
            feature=name, psi=psi(reference[name], live[name]), samples=int(sum(live[name]))
        )
        for name in sorted(reference)
        if name in live and len(live[name]) == len(reference[name]) and sum(live[name]) > 0
    ]
    return sorted(found, key=lambda d: (-d.psi, d.feature))


def worst(
    drifts: Sequence[FeatureDrift], *, max_psi: float, min_samples: int
) -> FeatureDrift | None:
    """The most drifted feature over `max_psi` on at least `min_samples` live values, if any."""
    for d in drifts:
        if d.samples >= min_samples and d.psi > max_psi:
            return d
    return None
