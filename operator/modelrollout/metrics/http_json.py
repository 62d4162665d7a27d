"""The plain HTTP JSON metric provider: POSTs what to measure to one URL, reads back a number or counts.

For a metrics backend without PromQL (a team's own service, a bridge to Datadog): metrics/registry.py
builds one per spec.analysis.http.url. One request per measurement; the body says which metric of
which track and window, and the answer carries `value`, the proportion's `successes` and `trials`, or
the histogram's `upperBounds` (the last "+Inf", as JSON has no infinity) and `cumulativeCounts`.
A null or absent answer is no data yet.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Literal

import httpx

from modelrollout.analysis import compare
from modelrollout.metrics import provider

DEFAULT_TIMEOUT = timedelta(seconds=10)
Kind = Literal["value", "proportion", "histogram"]


class HttpJsonProvider:
    """Measures metrics by asking the HTTP JSON endpoint at `url`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: timedelta = DEFAULT_TIMEOUT,
        client: httpx.Client | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                f"metrics URL {url!r} is not an http(s) URL: set spec.analysis.http.url, "
                "e.g. http://metrics.monitoring:8080/measure"
            )
        self._url = url
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout.total_seconds())

    @property
    def address(self) -> str:
        return self._url

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def value(self, metric: str, *, scope: provider.Scope, query: str | None = None) -> float:
        answer = self._ask("value", metric, scope=scope, query=query)
        number = self._field(answer, "value", metric=metric, scope=scope)
        if not math.isfinite(number):
            raise self._bad(f"{metric} is {number}, which no threshold can judge", metric)
        return number

    def proportion_counts(self, metric: str, *, scope: provider.Scope) -> compare.ProportionCounts:
        answer = self._ask("proportion", metric, scope=scope)
        successes = self._field(answer, "successes", metric=metric, scope=scope)
        trials = self._field(answer, "trials", metric=metric, scope=scope)
        try:
            return compare.ProportionCounts(successes=round(successes), trials=round(trials))
        except (ValueError, OverflowError) as e:
            raise self._bad(str(e), metric) from e

    def histogram_counts(self, metric: str, *, scope: provider.Scope) -> compare.HistogramCounts:
        answer = self._ask("histogram", metric, scope=scope)
        bounds, counts = answer.get("upperBounds"), answer.get("cumulativeCounts")
        if bounds is None or counts is None:
            raise self._no_data(metric, scope)
        try:
            return compare.HistogramCounts(
                upper_bounds=tuple(float(b) for b in bounds),
                cumulative_counts=tuple(int(c) for c in counts),
            )
        except (TypeError, ValueError) as e:
            raise self._bad(f"the histogram is unusable ({e})", metric) from e

    def _ask(
        self, kind: Kind, metric: str, *, scope: provider.Scope, query: str | None = None
    ) -> dict[str, Any]:
        body = {
            "kind": kind,
            "metric": metric,
            "query": query,
            "namespace": scope.namespace,
            "model": scope.model,
            "version": scope.version,
            "track": scope.track,
            "windowSeconds": scope.interval.total_seconds(),
        }
        try:
            response = self._client.post(self._url, json=body)
        except httpx.HTTPError as e:
            raise provider.ProviderUnreachable(
                f"metrics endpoint {self._url} could not be reached ({type(e).__name__}: {e}): "
                "check spec.analysis.http.url and that the service is up",
                query=metric,
                address=self._url,
            ) from e
        if response.status_code in {400, 422}:
            raise self._bad(f"refused the request ({response.text[:200].strip()})", metric)
        try:
            answer = response.json() if response.status_code == 200 else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise provider.ProviderUnreachable(
                f"metrics endpoint {self._url} answered HTTP {response.status_code} without a JSON "
                f"object ({response.text[:200].strip() or 'no body'}): is it the metrics service?",
                query=metric,
                address=self._url,
            )
        return answer

    def _field(
        self, answer: dict[str, Any], key: str, *, metric: str, scope: provider.Scope
    ) -> float:
        raw = answer.get(key)
        if raw is None:
            raise self._no_data(metric, scope)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise self._bad(f"{key} is {raw!r}, not a number", metric)
        return float(raw)

    def _no_data(self, metric: str, scope: provider.Scope) -> provider.NoData:
        return provider.NoData(
            f"no {metric} for the {scope.track} version {scope.version} yet at {self._url}",
            query=metric,
            address=self._url,
        )

    def _bad(self, what: str, metric: str) -> provider.BadQuery:
        return provider.BadQuery(
            f"metrics endpoint {self._url}: {what}; metric {metric}",
            query=metric,
            address=self._url,
        )
