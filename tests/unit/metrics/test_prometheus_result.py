"""Reading query results: one number or a typed error, and exact counter increases from samples."""

from __future__ import annotations

from typing import Any

import pytest

from modelrollout.metrics import prometheus_result as result
from modelrollout.metrics import provider

pytestmark = pytest.mark.unit

Q, ADDR = "up", "http://prom:9090"


def vector(*values: str) -> dict[str, Any]:
    return {
        "resultType": "vector",
        "result": [{"metric": {"pod": f"p{i}"}, "value": [1.0, v]} for i, v in enumerate(values)],
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (vector("0.9"), 0.9),
        ({"resultType": "scalar", "result": [1.0, "42"]}, 42.0),
    ],
)
def test_one_series_or_a_scalar_is_the_metric_value(data: dict[str, Any], expected: float) -> None:
    assert result.single_value(data, query=Q, address=ADDR) == expected


@pytest.mark.parametrize(
    ("data", "error", "needle"),
    [
        (vector(), provider.NoData, "no series"),
        (vector("NaN"), provider.NoData, "NaN"),
        (vector("+Inf"), provider.BadQuery, r"is \+Inf at .*which no threshold can judge"),
        ({"resultType": "scalar", "result": [1.0, "NaN"]}, provider.NoData, "NaN"),
        (vector("1", "2"), provider.BadQuery, r"2 series .*pod=\"p0\".*aggregate with sum"),
        ({"resultType": "matrix", "result": []}, provider.BadQuery, r"wrap it in rate"),
        ({"resultType": "string", "result": [1.0, "x"]}, provider.BadQuery, "not a number"),
        (
            {"resultType": "vector", "result": [{"metric": {}, "value": "x"}]},
            provider.ProviderUnreachable,
            r"\[time, value\]",
        ),
    ],
)
def test_anything_but_one_number_is_a_typed_error_naming_query_and_address(
    data: dict[str, Any], error: type[provider.ProviderError], needle: str
) -> None:
    with pytest.raises(error, match=needle) as caught:
        result.single_value(data, query=Q, address=ADDR)
    assert ADDR in str(caught.value)
    assert (caught.value.query, caught.value.address) == (Q, ADDR)


def test_no_data_is_never_mistaken_for_a_pass() -> None:
    assert issubclass(provider.NoData, provider.ProviderError)
    with pytest.raises(provider.ProviderError):
        result.single_value(vector(), query=Q, address=ADDR)


@pytest.mark.parametrize(
    ("baseline", "values", "increase"),
    [
        (10.0, [10.0, 12.0, 15.0], 5.0),
        (None, [3.0, 5.0], 5.0),  # born inside the window: counted from zero
        (10.0, [12.0, 2.0, 4.0], 6.0),  # restarted: 2 more before, 4 after the reset
        (10.0, [], 0.0),
        (None, [0.0, 0.0], 0.0),
        (7.0, [7.0], 0.0),
    ],
)
def test_exact_increase_counts_every_event_once_without_extrapolation(
    baseline: float | None, values: list[float], increase: float
) -> None:
    assert result.exact_increase(baseline, values) == increase


def test_increases_are_summed_per_group_across_pods() -> None:
    def labels(pod: str, outcome: str) -> result.Labels:
        return (("outcome", outcome), ("pod", pod))

    window = {
        labels("a", "correct"): [50.0, 60.0],
        labels("b", "correct"): [1.0, 31.0],
        labels("a", "incorrect"): [5.0, 9.0],
    }
    baseline = {labels("a", "correct"): [40.0], labels("a", "incorrect"): [5.0]}
    totals = result.grouped_increase(
        window=window, baseline=baseline, group_label="outcome", query=Q, address=ADDR
    )
    assert totals == {"correct": 20.0 + 31.0, "incorrect": 4.0}


def test_a_series_without_the_group_label_breaks_the_contract_loudly() -> None:
    with pytest.raises(provider.BadQuery, match="has no 'code' label"):
        result.grouped_increase(
            window={(("pod", "a"),): [1.0]}, baseline={}, group_label="code", query=Q, address=ADDR
        )


def test_matrix_and_vector_samples_are_read_per_series() -> None:
    matrix = {
        "resultType": "matrix",
        "result": [{"metric": {"le": "0.1"}, "values": [[1.0, "1"], [2.0, "3"]]}],
    }
    assert result.series_samples(matrix, query=Q, address=ADDR) == {(("le", "0.1"),): [1.0, 3.0]}
    assert result.series_samples(vector("4"), query=Q, address=ADDR) == {(("pod", "p0"),): [4.0]}
