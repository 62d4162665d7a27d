"""The server's Prometheus metrics: the contract in shared/design.md, and the feedback store's size.

Every series carries model/version/track/namespace from the server's own settings.
"""

# With several workers, prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by
# `serving.main` before this module is first imported) sums the series across processes.

from __future__ import annotations

import os

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from modelrollout.serving import config as config_mod
from modelrollout.serving import feedback

COMMON = ("model", "version", "track", "namespace")
# Inference on small tabular models takes well under a millisecond; the buckets reach down to
# 250 µs so a p99 threshold of a few milliseconds can be judged, and up to 10 s for slow models.
LATENCY_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Regression targets come in any unit; roughly logarithmic buckets cover most of them. Analysis
# uses _sum / _count (mean absolute error), which does not depend on the buckets.
ABS_ERROR_BUCKETS = (
    0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0,
)  # fmt: skip
SHADOW_DROP_REASONS = ("queue_full", "error")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The *_created series are not in the contract and double what Prometheus stores for us.
disable_created_metrics()  # type: ignore[no-untyped-call]


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    def __init__(self, *, settings: config_mod.ServeConfig, digest: str) -> None:
        self._registry = CollectorRegistry(auto_describe=True)
        reg = None if multiprocess_mode() else self._registry
        self._common = (settings.model_name, settings.model_version, settings.track,
                        settings.namespace)  # fmt: skip
        self.requests = Counter("model_requests", "Inference requests by HTTP status",
                                [*COMMON, "code"], registry=reg)  # fmt: skip
        self.duration = Histogram(
            "model_request_duration_seconds", "Server-side inference latency",
            COMMON, buckets=LATENCY_BUCKETS, registry=reg,
        ).labels(*self._common)  # fmt: skip
        self.predictions = Counter("model_predictions", "Predictions by predicted class",
                                   [*COMMON, "label"], registry=reg)  # fmt: skip
        outcomes = Counter(
            "model_feedback", "Ground-truth feedback matched to earlier predictions",
            [*COMMON, "outcome"], registry=reg,
        )  # fmt: skip
        self.correct = outcomes.labels(*self._common, "correct")
        self.incorrect = outcomes.labels(*self._common, "incorrect")
        self.abs_error = Histogram(
            "model_feedback_abs_error", "Absolute error of regression predictions, from feedback",
            COMMON, buckets=ABS_ERROR_BUCKETS, registry=reg,
        ).labels(*self._common)  # fmt: skip
        info = Gauge("model_info", "The model this server loaded (always 1)",
                     [*COMMON, "digest", "format"], registry=reg,
                     multiprocess_mode="max")  # fmt: skip
        info.labels(*self._common, digest, settings.format).set(1)
        # livesum: each worker holds its own store, and a dead worker's store is gone with it.
        self.store_entries = Gauge(
            "model_feedback_store_entries", "Predictions kept awaiting ground-truth feedback",
            COMMON, registry=reg, multiprocess_mode="livesum",
        ).labels(*self._common)  # fmt: skip
        self.store_bytes = Gauge(
            "model_feedback_store_bytes", "Approximate bytes of the predictions kept for feedback",
            COMMON, registry=reg, multiprocess_mode="livesum",
        ).labels(*self._common)  # fmt: skip
        evictions = Counter(
            "model_feedback_store_evictions",
            "Predictions dropped, oldest first, before their feedback came, by the budget they "
            "exceeded (entries, bytes, age)",
            [*COMMON, "reason"], registry=reg,
        )  # fmt: skip
        self.store_evictions = {
            reason: evictions.labels(*self._common, reason) for reason in feedback.EVICTION_REASONS
        }
        self._evicted = dict.fromkeys(feedback.EVICTION_REASONS, 0)
        self.store_entries.set(0)
        self.store_bytes.set(0)
        self._shadow(reg)
        self._inputs(reg)
        self._codes: dict[int, Counter] = {}
        self._labels: dict[object, Counter] = {}
        if reg is None:
            multiprocess.MultiProcessCollector(self._registry)  # type: ignore[no-untyped-call]

    def _shadow(self, reg: CollectorRegistry | None) -> None:
        self.shadow_mirrored = Counter(
            "model_shadow_mirrored", "Copies of requests the shadow version answered",
            COMMON, registry=reg,
        ).labels(*self._common)  # fmt: skip
        dropped = Counter(
            "model_shadow_dropped",
            "Copies not mirrored: the queue was full (queue_full) or the shadow failed (error)",
            [*COMMON, "reason"], registry=reg,
        )  # fmt: skip
        self.shadow_dropped = {r: dropped.labels(*self._common, r) for r in SHADOW_DROP_REASONS}
        agreement = Counter(
            "model_shadow_agreement",
            "Mirrored rows whose shadow prediction equals this server's (agree) or not (disagree)",
            [*COMMON, "outcome"], registry=reg,
        )  # fmt: skip
        self.shadow_agree = agreement.labels(*self._common, "agree")
        self.shadow_disagree = agreement.labels(*self._common, "disagree")

    def _inputs(self, reg: CollectorRegistry | None) -> None:
        self._input_bins = Counter(
            "model_input_bin",
            "Live input values per feature, counted in bins fixed from the reference dataset",
            [*COMMON, "feature", "bin"], registry=reg,
        )  # fmt: skip
        self._reference_shares = Gauge(
            "model_input_reference_share",
            "The reference dataset's share of each bin of model_input_bin_total",
            [*COMMON, "feature", "bin"], registry=reg, multiprocess_mode="max",
        )  # fmt: skip
        # How sure the shares are: the operator's chance test weighs a small reference less.
        self._reference_rows = Gauge(
            "model_input_reference_rows",
            "Rows of the reference dataset the shares of model_input_reference_share come from",
            COMMON, registry=reg, multiprocess_mode="max",
        )  # fmt: skip

    def input_bin(self, feature: str, index: int) -> Counter:
        return self._input_bins.labels(*self._common, feature, str(index))

    def reference_share(self, feature: str, index: int, share: float) -> None:
        self._reference_shares.labels(*self._common, feature, str(index)).set(share)

    def reference_rows(self, rows: int) -> None:
        self._reference_rows.labels(*self._common).set(rows)

    def mirrored(self) -> None:
        self.shadow_mirrored.inc()

    def dropped(self, reason: str) -> None:
        self.shadow_dropped[reason].inc()

    def agreement(self, *, agree: int, disagree: int) -> None:
        if agree:
            self.shadow_agree.inc(agree)
        if disagree:
            self.shadow_disagree.inc(disagree)

    def request(self, *, code: int, seconds: float) -> None:
        child = self._codes.get(code)
        if child is None:
            child = self._codes[code] = self.requests.labels(*self._common, str(code))
        child.inc()
        self.duration.observe(seconds)

    def predicted(self, labels: np.ndarray) -> None:
        if len(labels) == 1:  # the common case, without np.unique's sort
            self._label(labels[0].item()).inc()
            return
        values, counts = np.unique(labels, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            self._label(value).inc(count)

    def _label(self, value: object) -> Counter:
        child = self._labels.get(value)
        if child is None:
            child = self._labels[value] = self.predictions.labels(*self._common, str(value))
        return child

    def scored(self, score: feedback.Score) -> None:
        if score.correct:
            self.correct.inc(score.correct)
        if score.incorrect:
            self.incorrect.inc(score.incorrect)
        for error in score.abs_errors:
            self.abs_error.observe(error)

    def feedback_store(self, store: feedback.FeedbackStore) -> None:
        """Show the store's size now, and count the evictions since the last call."""
        self.store_entries.set(len(store))
        self.store_bytes.set(store.bytes)
        for reason, total in store.evicted.items():
            if total != self._evicted[reason]:
                self.store_evictions[reason].inc(total - self._evicted[reason])
                self._evicted[reason] = total

    def render(self) -> bytes:
        return generate_latest(self._registry)
