"""The metric provider contract, for every provider: what the API promises is what a provider serves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from modelrollout import api
from modelrollout.metrics import http_json, prometheus, provider, queries, registry

pytestmark = pytest.mark.unit

SCOPE = provider.Scope(
    namespace="ml", model="iris", version="2", track="canary", interval=timedelta(seconds=30)
)


def empty_prometheus() -> provider.MetricProvider:
    """A Prometheus that knows no series at all."""

    def handle(request: httpx.Request) -> httpx.Response:
        query = dict(httpx.QueryParams(request.content.decode()))["query"]
        kind = "matrix" if query.endswith("]") else "vector"
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": kind, "result": []}}
        )

    return prometheus.PrometheusProvider(
        "http://prom:9090", client=httpx.Client(transport=httpx.MockTransport(handle))
    )


def empty_http_json() -> provider.MetricProvider:
    """An HTTP JSON metrics service that knows nothing yet (answers {} to every question)."""
    return http_json.HttpJsonProvider(
        "http://metrics:8080/measure",
        client=httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json={}))),
    )


PROVIDERS = [
    pytest.param(empty_prometheus, id="prometheus"),
    pytest.param(empty_http_json, id="http"),
]


def test_the_contract_suite_covers_every_registered_provider() -> None:
    assert {p.id for p in PROVIDERS} == set(registry.names())


def test_every_metric_the_api_calls_built_in_has_a_query() -> None:
    assert set(queries.VALUE_QUERIES) == set(api.BUILTIN_METRICS)


def test_every_built_in_metric_has_counts_for_the_comparison_judge() -> None:
    assert set(queries.PROPORTION_QUERIES) | set(queries.HISTOGRAM_QUERIES) == set(
        api.BUILTIN_METRICS
    )
    assert not set(queries.PROPORTION_QUERIES) & set(queries.HISTOGRAM_QUERIES)


def test_the_provider_errors_share_one_base_so_none_can_slip_through_as_a_value() -> None:
    for error in (provider.ProviderUnreachable, provider.BadQuery, provider.NoData):
        assert issubclass(error, provider.ProviderError)


@pytest.mark.parametrize("make", PROVIDERS)
@pytest.mark.parametrize("metric", api.BUILTIN_METRICS)
def test_no_series_is_no_data_for_every_built_in_metric_and_count(
    make: Callable[[], provider.MetricProvider], metric: str
) -> None:
    source = make()
    try:
        with pytest.raises(provider.NoData):
            source.value(metric, scope=SCOPE)
        fetch = (
            source.proportion_counts
            if metric in queries.PROPORTION_QUERIES
            else source.histogram_counts
        )
        with pytest.raises(provider.NoData):
            fetch(metric, scope=SCOPE)
    finally:
        source.close()
