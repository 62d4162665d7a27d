"""The Prometheus metric provider: instant queries over HTTP (httpx), foreign errors made typed.

metrics/registry.py builds one per spec.analysis.prometheus.address; measure calls it each round;
what the answers mean is read by prometheus_result, the PromQL comes from queries.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import httpx

from modelrollout.analysis import compare
from modelrollout.metrics import prometheus_result as result
from modelrollout.metrics import provider, queries

DEFAULT_TIMEOUT = timedelta(seconds=10)


class PrometheusProvider:
    """Measures the model server's metrics from a Prometheus HTTP API at `address`."""

    def __init__(
        self,
        address: str,
        *,
        timeout: timedelta = DEFAULT_TIMEOUT,
        client: httpx.Client | None = None,
    ) -> None:
        if not address.startswith(("http://", "https://")):
            raise ValueError(
                f"Prometheus address {address!r} is not an http(s) URL: "
                "set spec.analysis.prometheus.address, e.g. http://prometheus.monitoring:9090"
            )
        self._address = address.rstrip("/")
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout.total_seconds())

    @property
    def address(self) -> str:
        return self._address

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def value(self, metric: str, *, scope: provider.Scope, query: str | None = None) -> float:
        template = query if query is not None else queries.VALUE_QUERIES.get(metric)
        if template is None:
            raise provider.BadQuery(
                f"metric {metric!r} is not built in ({', '.join(queries.VALUE_QUERIES)} are): "
                "give it a PromQL query in spec.analysis.metrics",
                query="",
                address=self._address,
            )
        promql = self._render(template, scope)
        return result.single_value(self.query(promql), query=promql, address=self._address)

    def proportion_counts(self, metric: str, *, scope: provider.Scope) -> compare.ProportionCounts:
        groups, _ = self._grouped(queries.PROPORTION_QUERIES, metric, scope=scope)
        successes = sum(v for g, v in groups.items() if queries.is_success(metric, g))
        return compare.ProportionCounts(
            successes=round(successes), trials=round(sum(groups.values()))
        )

    def histogram_counts(self, metric: str, *, scope: provider.Scope) -> compare.HistogramCounts:
        groups, promql = self._grouped(queries.HISTOGRAM_QUERIES, metric, scope=scope)
        try:
            buckets = sorted((float(le), count) for le, count in groups.items())
        except ValueError as e:
            raise self._bad(f"a bucket's le label is not a number ({e})", promql) from e
        if not buckets or not math.isinf(buckets[-1][0]):
            raise self._bad('the histogram has no le="+Inf" bucket', promql)
        cumulative, running = [], 0
        for _, count in buckets:
            # Every bucket of a target is scraped at once, so only float rounding can make a
            # cumulative count dip; never let it.
            running = max(running, round(count))
            cumulative.append(running)
        try:
            return compare.HistogramCounts(
                upper_bounds=tuple(b for b, _ in buckets), cumulative_counts=tuple(cumulative)
            )
        except ValueError as e:
            raise self._bad(str(e), promql) from e

    def query(self, promql: str) -> dict[str, Any]:
        """The `data` of an instant query's answer; raises the provider's typed errors."""
        timeout = f"{max(1, math.ceil(self._timeout.total_seconds()))}s"
        try:
            response = self._client.post(
                f"{self._address}/api/v1/query", data={"query": promql, "timeout": timeout}
            )
        except httpx.TimeoutException as e:
            raise self._unreachable(
                f"did not answer within {self._timeout.total_seconds():g}s: check it is up and "
                "not overloaded",
                promql,
            ) from e
        except httpx.HTTPError as e:
            raise self._unreachable(
                f"could not be reached ({type(e).__name__}: {e}): check "
                "spec.analysis.prometheus.address and that Prometheus is running",
                promql,
            ) from e
        return self._data(response, promql)

    def _data(self, response: httpx.Response, promql: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code in {400, 422} and error:
            raise provider.BadQuery(
                f"Prometheus at {self._address} refused the query ({body.get('errorType')}: "
                f"{error}): fix the PromQL; query: {promql}",
                query=promql,
                address=self._address,
            )
        if response.status_code in {401, 403}:
            raise self._unreachable(
                f"denied access (HTTP {response.status_code}): the operator sends no credentials, "
                "so point it at a Prometheus (or proxy) that allows reads",
                promql,
            )
        if response.status_code == 404:
            raise self._unreachable(
                "has no /api/v1/query (HTTP 404): the address must be Prometheus' base URL, e.g. "
                "http://prometheus.monitoring:9090",
                promql,
            )
        if response.status_code != 200 or not isinstance(body, dict):
            detail = error or response.text[:200].strip() or "no body"
            raise self._unreachable(
                f"answered HTTP {response.status_code} ({detail}): is it healthy, and is the "
                "address a Prometheus API?",
                promql,
            )
        data = body.get("data")
        if body.get("status") != "success" or not isinstance(data, dict):
            raise self._unreachable(
                f"answered without a successful result ({str(body)[:200]}): is the address a "
                "Prometheus API?",
                promql,
            )
        return data

    def _grouped(
        self, table: dict[str, queries.CountQuery], metric: str, *, scope: provider.Scope
    ) -> tuple[dict[str, float], str]:
        """Exact increase per group label value over the window, and the query that read it."""
        spec = table.get(metric)
        if spec is None:
            raise provider.BadQuery(
                f"metric {metric!r} has no count query ({', '.join(table)} have): compare "
                "against the stable works only for built-in metrics",
                query="",
                address=self._address,
            )
        selector = self._render(spec.series, scope)
        window = queries.promql_duration(scope.interval)
        over = f"{selector}[{window}]"
        samples = result.series_samples(self.query(over), query=over, address=self._address)
        if not samples:
            raise provider.NoData(
                f"no {metric} series in the last {window} at Prometheus {self._address}: no "
                f"traffic or feedback yet, or the labels match nothing; query: {over}",
                query=over,
                address=self._address,
            )
        before = f"{selector} offset {window}"
        baseline = result.series_samples(self.query(before), query=before, address=self._address)
        groups = result.grouped_increase(
            window=samples,
            baseline=baseline,
            group_label=spec.group_label,
            query=over,
            address=self._address,
        )
        return groups, over

    def _render(self, template: str, scope: provider.Scope) -> str:
        try:
            return queries.render(template, scope)
        except ValueError as e:
            raise provider.BadQuery(
                f"{e}; query: {template}", query=template, address=self._address
            ) from e

    def _unreachable(self, what: str, promql: str) -> provider.ProviderUnreachable:
        return provider.ProviderUnreachable(
            f"Prometheus at {self._address} {what}; query: {promql}",
            query=promql,
            address=self._address,
        )

    def _bad(self, what: str, promql: str) -> provider.BadQuery:
        return provider.BadQuery(
            f"histogram from Prometheus at {self._address} is unusable: {what}; query: {promql}",
            query=promql,
            address=self._address,
        )
