"""What each built-in analysis metric means: the one table the API rules, the queries and the judge read.

A metric's series and labels are the model server's metrics contract (docs/design.md); its
direction and success rule decide how the judge compares canary and stable. metrics/queries.py
builds the PromQL from this table, metrics/measure.py picks the test and its direction from it,
and api/analysis.py derives its unit and margin rules from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Margin = Literal["max_drop", "max_increase", "max_increase_ratio"]


@dataclass(frozen=True)
class Builtin:
    """One built-in metric: where its counts come from and how it is judged."""

    name: str
    higher_is_better: bool
    unit: Literal["share", "ms"]
    """share: between 0 and 1 (bounds and margins too); ms: a time, never negative."""
    series: str
    """The model server's counter (a histogram's base name) the metric is computed from."""
    group_label: str
    """The label that classifies each series: outcome, code or le."""
    trials: str | None
    """Regex of group_label values that count as trials (None: every series)."""
    successes: str | None
    """Regex of group_label values that count as the event whose rate is the metric."""
    margins: tuple[Margin, ...]
    """The compare margins a sequential test of this metric can use."""
    margin_hint: str
    """What to write instead when another margin is set (the API's refusal message)."""
    quantile: float | None = None
    """Set for a histogram metric (that quantile of its buckets is judged); None for a proportion
    (successes of trials, tested as rates)."""
    scale: float = 1.0
    """Multiplies the raw value into the metric's unit (seconds to ms)."""


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            name="accuracy",
            higher_is_better=True,
            unit="share",
            series="model_feedback_total",
            group_label="outcome",
            trials="correct|incorrect",
            successes="correct",
            margins=("max_drop",),
            margin_hint="accuracy is higher-is-better: compare it with maxDrop, e.g. 0.02 for two "
            "points (maxIncrease is for error_rate and latency, maxIncreaseRatio for latency)",
        ),
        Builtin(
            name="latency_p99_ms",
            higher_is_better=False,
            unit="ms",
            series="model_request_duration_seconds",
            group_label="le",
            trials=None,
            successes=None,
            margins=("max_increase_ratio", "max_increase"),
            margin_hint="latency_p99_ms is lower-is-better: compare it with maxIncreaseRatio "
            "(e.g. 0.2 for 20% slower) or maxIncrease (milliseconds), not maxDrop",
            quantile=0.99,
            scale=1000.0,
        ),
        Builtin(
            name="error_rate",
            higher_is_better=False,
            unit="share",
            series="model_requests_total",
            group_label="code",
            trials=None,
            successes="5..",
            margins=("max_increase",),
            margin_hint="error_rate is lower-is-better and near zero: compare it with "
            "maxIncrease, e.g. 0.01 for one point more errors (maxIncreaseRatio is for latency only)",
        ),
    )
}
