"""+Inf, -Inf and NaN from Prometheus: never a pass and never an exception, always a clear phase.

NaN (0/0, nothing counted yet) is no data, so Inconclusive; an infinite value or a non-finite
counter is an Error that names the query. Driven through the real provider (on a fake transport)
and the controller's round, as a user's ModelDeployment would be.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from modelrollout import api
from modelrollout.analysis import judge
from modelrollout.metrics import measure, prometheus, provider
from modelrollout.metrics import prometheus_result as result

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ADDR = "http://prom.monitoring:9090"
E, I, F, S = "Error", "Inconclusive", "Failed", "Successful"  # noqa: E741
Handler = Callable[[httpx.Request], httpx.Response]


def answer(result_type: str, found: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"status": "success", "data": {"resultType": result_type, "result": found}}
    )


def instant(value: str) -> Handler:
    return lambda _: answer("vector", [{"metric": {}, "value": [1000.0, value]}])


def counts(*window: tuple[dict[str, str], list[str]], baseline: list[str] | None = None) -> Handler:
    """Matrix samples per series for the window, and each series' sample before it (or none)."""

    def handle(request: httpx.Request) -> httpx.Response:
        query = dict(httpx.QueryParams(request.content.decode()))["query"]
        if " offset " in query:
            before = [
                {"metric": labels, "value": [900.0, baseline[i]]}
                for i, (labels, _) in enumerate(window)
                if baseline is not None
            ]
            return answer("vector", before)
        series = [
            {"metric": labels, "values": [[1000.0 + t, v] for t, v in enumerate(values)]}
            for labels, values in window
        ]
        return answer("matrix", series)

    return handle


def take_round(metric: dict[str, Any], handler: Handler) -> api.Measurement:
    spec = api.ModelDeploymentSpec.model_validate(
        {
            "model": {"name": "iris", "version": "2", "uri": "file:///m/2.skops"},
            "analysis": {"prometheus": {"address": ADDR}, "interval": "60s", "metrics": [metric]},
        }
    )
    status = api.ModelDeploymentStatus(canary_version="2", stable_version="1")
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        prom = prometheus.PrometheusProvider(ADDR, client=client)
        (measured,) = measure.take_round(
            prov=prom, spec=spec, status=status, namespace="ml", now=NOW
        )
    return measured


ACCURACY_MIN = {"name": "accuracy", "min": 0.9}
ERROR_RATE_MAX = {"name": "error_rate", "max": 0.05}
ERROR_RATE_VS_STABLE = {"name": "error_rate", "compare": {"maxIncrease": 0.01}}
LATENCY_VS_STABLE = {"name": "latency_p99_ms", "compare": {"maxIncreaseRatio": 0.2}}
OK, FAILED = {"code": "200"}, {"code": "503"}


@pytest.mark.parametrize(
    ("metric", "handler", "phase", "words"),
    [
        # A value judged against a bound: +Inf passed every min, -Inf every max.
        (ACCURACY_MIN, instant("+Inf"), E, "is +Inf"),
        (ERROR_RATE_MAX, instant("-Inf"), E, "is -Inf"),
        (ACCURACY_MIN, instant("NaN"), I, "NaN"),
        (ACCURACY_MIN, instant("0.95"), S, ""),
        (ERROR_RATE_MAX, instant("0.5"), F, "above max"),
        # Counters read for the sequential comparison: these raised OverflowError or ValueError.
        (ERROR_RATE_VS_STABLE, counts((OK, ["0", "+Inf"]), (FAILED, ["0", "1"])), E, "+Inf sample"),
        (ERROR_RATE_VS_STABLE, counts((OK, ["0", "NaN"]), (FAILED, ["0", "1"])), E, "NaN sample"),
        (
            ERROR_RATE_VS_STABLE,
            counts((OK, ["5", "10"]), (FAILED, ["0", "1"]), baseline=["+Inf", "0"]),
            E,
            "+Inf sample",
        ),
        (
            ERROR_RATE_VS_STABLE,
            counts((OK, ["1e308", "0", "1e308"]), (FAILED, ["0", "1"])),
            E,
            "past the largest number",
        ),
        (
            LATENCY_VS_STABLE,
            counts(({"le": "0.1"}, ["0", "+Inf"]), ({"le": "+Inf"}, ["0", "+Inf"])),
            E,
            "+Inf sample",
        ),
    ],
    ids=[
        "plus-inf-vs-min", "minus-inf-vs-max", "nan-is-no-data", "finite-pass", "finite-fail",
        "inf-counter", "nan-counter", "inf-baseline", "overflowing-sum", "inf-bucket",
    ],
)  # fmt: skip
def test_a_non_finite_answer_is_a_clear_measurement_never_a_pass_nor_an_exception(
    metric: dict[str, Any], handler: Handler, phase: str, words: str
) -> None:
    measured = take_round(metric, handler)
    assert measured.phase is api.MeasurementPhase(phase)
    assert words in measured.message
    if phase == E:
        assert ADDR in measured.message
        assert "query:" in measured.message


@pytest.mark.parametrize("value", ["+Inf", "-Inf"])
def test_an_infinite_value_is_a_bad_query_that_says_what_to_fix(value: str) -> None:
    data = {"resultType": "scalar", "result": [1.0, value]}
    with pytest.raises(provider.BadQuery, match=r"guard the denominator.*larger bucket") as caught:
        result.single_value(data, query="q", address=ADDR)
    assert (caught.value.query, caught.value.address) == ("q", ADDR)


@pytest.mark.parametrize(
    ("metric", "value", "phase"),
    [
        (api.MetricSpec(name="accuracy", min=0.9), float("inf"), E),
        (api.MetricSpec(name="error_rate", max=0.05), float("-inf"), E),
        (api.MetricSpec(name="qps", query="sum(rate(x[1m]))", min=1.0, max=100.0), float("inf"), E),
        (api.MetricSpec(name="accuracy", min=0.9), float("nan"), I),
    ],
)
def test_the_judge_never_passes_an_infinite_value_from_any_provider(
    metric: api.MetricSpec, value: float, phase: str
) -> None:
    measured = judge.check_bounds(metric=metric, value=value, now=NOW)
    assert measured.phase is api.MeasurementPhase(phase)
