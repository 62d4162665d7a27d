"""The Prometheus provider at its HTTP edge, against a fake transport: requests, answers, failures."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from modelrollout.metrics import prometheus, provider

pytestmark = pytest.mark.unit

ADDR = "http://prom.monitoring:9090"
SCOPE = provider.Scope(
    namespace="ml", model="iris", version="2", track="canary", interval=timedelta(minutes=1)
)
Handler = Callable[[httpx.Request], httpx.Response]


def ok(result_type: str, result: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"status": "success", "data": {"resultType": result_type, "result": result}}
    )


def series(labels: dict[str, str], *values: float) -> dict[str, Any]:
    return {"metric": labels, "values": [[1000.0 + i, str(v)] for i, v in enumerate(values)]}


def sample(labels: dict[str, str], value: float) -> dict[str, Any]:
    return {"metric": labels, "value": [1000.0, str(value)]}


@pytest.fixture
def sent() -> list[str]:
    return []


@pytest.fixture
def make(sent: list[str]) -> Iterator[Callable[[Handler], prometheus.PrometheusProvider]]:
    made: list[prometheus.PrometheusProvider] = []

    def build(handler: Handler) -> prometheus.PrometheusProvider:
        def record(request: httpx.Request) -> httpx.Response:
            assert request.url.path == "/api/v1/query"
            form = dict(httpx.QueryParams(request.content.decode()))
            assert form["timeout"] == "10s"
            sent.append(form["query"])
            return handler(request)

        client = httpx.Client(transport=httpx.MockTransport(record))
        made.append(prometheus.PrometheusProvider(ADDR, client=client))
        return made[-1]

    yield build
    for p in made:
        p.close()


def test_a_built_in_metric_sends_its_rendered_query_and_returns_the_number(
    make: Callable[[Handler], prometheus.PrometheusProvider], sent: list[str]
) -> None:
    prom = make(lambda _: ok("vector", [sample({}, 0.9)]))
    assert prom.value("accuracy", scope=SCOPE) == 0.9
    assert 'track="canary"' in sent[0]
    assert "[60s]" in sent[0]


def test_a_custom_query_is_templated_and_a_scalar_answer_is_fine(
    make: Callable[[Handler], prometheus.PrometheusProvider], sent: list[str]
) -> None:
    prom = make(lambda _: ok("scalar", [1000.0, "5"]))
    assert (
        prom.value("qps", scope=SCOPE, query='sum(rate(x{ns="{{namespace}}"}[{{interval}}]))')
        == 5.0
    )
    assert sent == ['sum(rate(x{ns="ml"}[60s]))']


def test_an_unknown_metric_without_a_query_is_a_bad_query(
    make: Callable[[Handler], prometheus.PrometheusProvider],
) -> None:
    prom = make(lambda _: ok("scalar", [0, "1"]))
    with pytest.raises(provider.BadQuery, match=r"'qps' is not built in.*give it a PromQL query"):
        prom.value("qps", scope=SCOPE)
    with pytest.raises(provider.BadQuery, match=r"unknown placeholder\(s\) \{\{pod\}\}"):
        prom.value("qps", scope=SCOPE, query='x{pod="{{pod}}"}')


@pytest.mark.parametrize(
    ("response", "error", "needle"),
    [
        (
            httpx.Response(
                400,
                json={"status": "error", "errorType": "bad_data", "error": "parse error at char 5"},
            ),
            provider.BadQuery,
            "refused the query .bad_data: parse error at char 5.: fix the PromQL",
        ),
        (
            httpx.Response(
                422, json={"status": "error", "errorType": "execution", "error": "too many samples"}
            ),
            provider.BadQuery,
            "too many samples",
        ),
        (
            httpx.Response(
                503, json={"status": "error", "errorType": "timeout", "error": "query timed out"}
            ),
            provider.ProviderUnreachable,
            r"HTTP 503 \(query timed out\)",
        ),
        (
            httpx.Response(502, text="<html>bad gateway</html>"),
            provider.ProviderUnreachable,
            "HTTP 502",
        ),
        (
            httpx.Response(404, text="not found"),
            provider.ProviderUnreachable,
            "must be Prometheus' base URL",
        ),
        (httpx.Response(401), provider.ProviderUnreachable, "no credentials"),
        (httpx.Response(200, text="{not json"), provider.ProviderUnreachable, "HTTP 200"),
        (
            httpx.Response(200, json={"status": "success"}),
            provider.ProviderUnreachable,
            "without a successful result",
        ),
        (
            httpx.Response(200, json=["a", "list"]),
            provider.ProviderUnreachable,
            "is the address a Prometheus API",
        ),
    ],
)
def test_failed_answers_become_typed_errors_naming_address_and_query(
    make: Callable[[Handler], prometheus.PrometheusProvider],
    response: httpx.Response,
    error: type[provider.ProviderError],
    needle: str,
) -> None:
    prom = make(lambda _: response)
    with pytest.raises(error, match=needle) as caught:
        prom.value("error_rate", scope=SCOPE)
    message = str(caught.value)
    assert ADDR in message
    assert "model_requests_total" in message
    assert caught.value.address == ADDR


@pytest.mark.parametrize(
    ("exc", "needle"),
    [
        (httpx.ReadTimeout("timed out"), "did not answer within 10s"),
        (
            httpx.ConnectError("connection refused"),
            r"could not be reached \(ConnectError: connection refused\).*address",
        ),
    ],
)
def test_timeouts_and_refused_connections_are_unreachable(
    make: Callable[[Handler], prometheus.PrometheusProvider], exc: Exception, needle: str
) -> None:
    def fail(_: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(provider.ProviderUnreachable, match=needle) as caught:
        make(fail).value("accuracy", scope=SCOPE)
    assert isinstance(caught.value.__cause__, httpx.HTTPError)


def test_an_address_that_is_not_a_url_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match=r"spec\.analysis\.prometheus\.address"):
        prometheus.PrometheusProvider("prom:9090")


def counts_handler(window: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        query = dict(httpx.QueryParams(request.content.decode()))["query"]
        if " offset " in query:
            return ok("vector", baseline)
        assert query.endswith("[60s]")
        return ok("matrix", window)

    return handle


def test_accuracy_counts_are_correct_and_all_feedback_increases_over_the_window(
    make: Callable[[Handler], prometheus.PrometheusProvider], sent: list[str]
) -> None:
    correct = {"outcome": "correct", "pod": "a"}
    incorrect = {"outcome": "incorrect", "pod": "a"}
    born = {"outcome": "correct", "pod": "b"}  # a new pod: all its feedback is in the window
    prom = make(
        counts_handler(
            window=[series(correct, 100, 150, 190), series(incorrect, 5, 10), series(born, 3, 7)],
            baseline=[sample(correct, 100), sample(incorrect, 5)],
        )
    )
    counts = prom.proportion_counts("accuracy", scope=SCOPE)
    assert (counts.successes, counts.trials) == (90 + 7, 90 + 7 + 5)
    assert sent[1].endswith(" offset 60s")


def test_error_rate_counts_are_server_errors_of_all_requests(
    make: Callable[[Handler], prometheus.PrometheusProvider],
) -> None:
    prom = make(
        counts_handler(
            window=[
                series({"code": "200"}, 0, 880),
                series({"code": "404"}, 0, 20),
                series({"code": "503"}, 0, 100),
            ],
            baseline=[],
        )
    )
    counts = prom.proportion_counts("error_rate", scope=SCOPE)
    assert (counts.successes, counts.trials) == (100, 1000)


def test_histogram_counts_are_cumulative_per_bound_sorted_with_inf_last(
    make: Callable[[Handler], prometheus.PrometheusProvider],
) -> None:
    prom = make(
        counts_handler(
            window=[
                series({"le": "+Inf", "pod": "a"}, 0, 100),
                series({"le": "0.05", "pod": "a"}, 0, 98),
                series({"le": "0.1", "pod": "a"}, 0, 100),
                series({"le": "0.005", "pod": "a"}, 0, 90),
                series({"le": "0.005", "pod": "b"}, 0, 10),
                series({"le": "+Inf", "pod": "b"}, 0, 10),
                series({"le": "0.05", "pod": "b"}, 0, 10),
                series({"le": "0.1", "pod": "b"}, 0, 10),
            ],
            baseline=[],
        )
    )
    counts = prom.histogram_counts("latency_p99_ms", scope=SCOPE)
    assert counts.upper_bounds == (0.005, 0.05, 0.1, float("inf"))
    assert counts.cumulative_counts == (100, 108, 110, 110)


@pytest.mark.parametrize(
    ("window", "needle"),
    [
        ([series({"le": "0.1"}, 0, 3)], 'no le="\\+Inf" bucket'),
        ([series({"le": "fast"}, 0, 3), series({"le": "+Inf"}, 0, 3)], "not a number"),
        ([series({"le": "+Inf"}, 0, 3)], "at least one finite bound"),
    ],
)
def test_a_malformed_histogram_is_a_bad_query(
    make: Callable[[Handler], prometheus.PrometheusProvider],
    window: list[dict[str, Any]],
    needle: str,
) -> None:
    with pytest.raises(provider.BadQuery, match=needle) as caught:
        make(counts_handler(window=window, baseline=[])).histogram_counts(
            "latency_p99_ms", scope=SCOPE
        )
    assert caught.value.query.startswith("model_request_duration_seconds_bucket{")
    assert ADDR in str(caught.value)


def test_counts_without_any_series_are_no_data(
    make: Callable[[Handler], prometheus.PrometheusProvider],
) -> None:
    prom = make(counts_handler(window=[], baseline=[]))
    with pytest.raises(provider.NoData, match="no accuracy series in the last 60s"):
        prom.proportion_counts("accuracy", scope=SCOPE)


def test_counts_exist_only_for_built_in_metrics_of_the_right_kind(
    make: Callable[[Handler], prometheus.PrometheusProvider],
) -> None:
    prom = make(counts_handler(window=[], baseline=[]))
    with pytest.raises(provider.BadQuery, match="'latency_p99_ms' has no count query"):
        prom.proportion_counts("latency_p99_ms", scope=SCOPE)
    with pytest.raises(provider.BadQuery, match="'accuracy' has no count query"):
        prom.histogram_counts("accuracy", scope=SCOPE)


def test_the_provider_closes_only_a_client_it_made() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda _: ok("scalar", [0, "1"])))
    prometheus.PrometheusProvider(ADDR, client=client).close()
    assert not client.is_closed
    client.close()
    own = prometheus.PrometheusProvider(ADDR)
    own.close()
    assert json.dumps(own.address) == f'"{ADDR}"'
