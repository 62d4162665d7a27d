"""The metric provider seam: the Protocol the analysis calls, the scope of a query, and typed errors.

A provider's failures are data: the controller turns ProviderUnreachable and BadQuery into an
Error measurement and NoData into Inconclusive, so none of them ever passes a canary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol

from modelrollout import api
from modelrollout.analysis import compare

Track = Literal["stable", "canary"]


@dataclass(frozen=True)
class Scope:
    """Whose series a query reads: the model server's own labels, and the window to look back."""

    namespace: str
    model: str
    version: str
    track: Track
    interval: timedelta
    """The window: `[interval]` in rate()/increase(), e.g. spec.analysis.interval or since the canary began."""


def scope_for(
    *,
    analysis: api.AnalysisSpec,
    metric: api.MetricSpec,
    namespace: str,
    model: str,
    version: str,
    track: Track,
) -> Scope:
    """The scope of one metric of spec.analysis: its own interval, else the analysis interval."""
    interval = api.parse_duration(metric.interval or analysis.interval)
    return Scope(namespace=namespace, model=model, version=version, track=track, interval=interval)


class ProviderError(Exception):
    """A metric could not be measured; `query` and `address` say which and where."""

    def __init__(self, message: str, *, query: str, address: str) -> None:
        super().__init__(message)
        self.query = query
        self.address = address


class ProviderUnreachable(ProviderError):  # noqa: N818 (outcomes, read as data by the judge)
    """The metrics backend did not answer usefully (connection, timeout, 5xx, not its API)."""


class BadQuery(ProviderError):  # noqa: N818
    """The backend refused the query or its result is not one finite number: fix the query."""


class NoData(ProviderError):  # noqa: N818
    """The query matched no series, or its value is NaN: not measurable yet, never a pass."""


class MetricProvider(Protocol):
    """Measures metrics for one track; raises the errors above. Built-in names or a custom query."""

    @property
    def address(self) -> str:
        """Where the provider reads from, for messages."""
        ...

    def value(self, metric: str, *, scope: Scope, query: str | None = None) -> float:
        """One number: a built-in metric (`query=None`) or the given templated query."""
        ...

    def proportion_counts(self, metric: str, *, scope: Scope) -> compare.ProportionCounts:
        """Counter increases over the window for a rate metric (accuracy, error_rate)."""
        ...

    def histogram_counts(self, metric: str, *, scope: Scope) -> compare.HistogramCounts:
        """Cumulative bucket increases over the window (latency_p99_ms), +Inf last."""
        ...

    def close(self) -> None:
        """Release connections the provider opened itself."""
        ...
