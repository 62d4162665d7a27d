"""Per-feature summaries of live inputs, for drift monitoring: each feature's values counted in
bins fixed from the reference dataset (analysis/drift.py), exported with the reference's own share
of each bin, so the operator can compute PSI from Prometheus alone.

`Reference.load` runs once at start-up (a dataset that cannot be read stops the server before it is
Ready); `InputBins.count` runs on each answered request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelrollout.analysis import drift
from modelrollout.serving import config, metrics


class ReferenceError(Exception):
    """The reference dataset cannot give bins; the message says which setting to fix."""


@dataclass(frozen=True)
class Feature:
    name: str
    edges: np.ndarray
    shares: tuple[float, ...]
    """The reference's share of each of the len(edges) + 1 bins."""


@dataclass(frozen=True)
class Reference:
    features: tuple[Feature, ...]
    rows: int
    """Rows of the reference dataset: how many values each feature's shares come from."""

    @classmethod
    def load(cls, settings: config.ServeConfig) -> Reference | None:
        if settings.reference_uri is None:
            return None
        # The validation runner's reader: the same parsing and errors as the offline checks.
        from modelrollout.validation import datasets, results  # noqa: PLC0415 - only if asked

        try:
            data = datasets.load(
                settings.reference_uri, format=settings.reference_format, role="reference dataset"
            )
        except results.CouldNotRun as e:
            raise ReferenceError(f"{e} (--reference-uri)") from e
        features, rows = [], 0
        for name in data.names:
            if name == settings.reference_target:
                continue
            column = data[name]
            if not column.is_numeric:
                raise ReferenceError(
                    f"the reference dataset's column {name!r} is not numeric; live inputs are "
                    "numeric tensors, so drift needs numeric features (name the label with "
                    "--reference-target)"
                )
            rows = max(rows, len(column.numbers))
            edges = drift.bin_edges(column.numbers, bins=settings.drift_bins)
            counts = np.bincount(drift.bin_index(column.numbers, edges), minlength=len(edges) + 1)
            features.append(Feature(name, edges, tuple(drift.shares(counts.tolist()))))
        if not features:
            raise ReferenceError("the reference dataset has no feature column besides the target")
        return cls(tuple(features), rows)


class InputBins:
    """Counts each live row's features in the reference's bins (rows of another width are skipped)."""

    def __init__(self, reference: Reference, *, meters: metrics.Metrics) -> None:
        self._features = reference.features
        # prometheus_client children, one per (feature, bin), made once.
        self._children = [
            [meters.input_bin(f.name, b) for b in range(len(f.shares))] for f in reference.features
        ]
        for f in reference.features:
            for b, share in enumerate(f.shares):
                meters.reference_share(f.name, b, share)
        meters.reference_rows(reference.rows)

    def count(self, rows: np.ndarray) -> None:
        if rows.ndim != 2 or rows.shape[1] != len(self._features) or rows.dtype.kind not in "fiu":
            return
        for j, feature in enumerate(self._features):
            bins = drift.bin_index(rows[:, j], feature.edges)
            children = self._children[j]
            if len(bins) == 1:
                children[int(bins[0])].inc()
                continue
            for b, n in enumerate(np.bincount(bins, minlength=len(children)).tolist()):
                if n:
                    children[b].inc(n)
