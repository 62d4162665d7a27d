"""Latency timing, driven by a fake clock so every figure is known in advance."""

from __future__ import annotations

import numpy as np
import pytest

from modelrollout.validation import latency

pytestmark = pytest.mark.unit


class FakeClock:
    """Each prediction takes `cost(rows)` milliseconds; reading the clock takes no time."""

    def __init__(self, cost: dict[int, float]) -> None:
        self.now = 0.0
        self.cost = cost
        self.calls: list[int] = []

    def __call__(self) -> float:
        return self.now

    def predict(self, rows: np.ndarray) -> np.ndarray:
        self.calls.append(len(rows))
        self.now += self.cost[len(rows)] / 1000.0
        return np.zeros(len(rows))


def test_nearest_rank_percentiles_are_values_that_were_observed() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert latency.percentile(samples, 50) == 50.0
    assert latency.percentile(samples, 99) == 99.0
    assert latency.percentile([3.0, 1.0, 2.0], 99) == 3.0
    assert np.isnan(latency.percentile([], 50))


def test_single_row_and_batch_latencies_are_timed_separately() -> None:
    clock = FakeClock({1: 2.0, 32: 10.0})
    budget = latency.Budget(single_calls=20, batch_calls=5, warmup_calls=2)
    measured = latency.measure(clock.predict, np.zeros((100, 3)), budget=budget, clock=clock)
    assert measured["latencyP50Ms"] == pytest.approx(2.0)
    assert measured["latencyP99Ms"] == pytest.approx(2.0)
    assert measured["batchLatencyP99Ms"] == pytest.approx(10.0)
    assert (measured["singleCalls"], measured["batchCalls"], measured["batchSize"]) == (20, 5, 32)
    # warm-up calls run first and are not timed
    assert clock.calls == [1] * 22 + [32] * 7


def test_a_slow_model_is_timed_for_the_budget_not_for_every_call() -> None:
    clock = FakeClock({1: 500.0, 10: 900.0})
    budget = latency.Budget(single_calls=200, batch_calls=50, seconds_per_kind=3.0, min_calls=5)
    measured = latency.measure(clock.predict, np.zeros((10, 2)), budget=budget, clock=clock)
    assert measured["singleCalls"] == 7  # 3.5 s of 500 ms calls
    assert measured["batchCalls"] == 5  # the minimum, although it overruns the budget
    assert measured["batchSize"] == 10  # no bigger than the dataset


def test_an_empty_dataset_has_no_latency() -> None:
    measured = latency.measure(np.sum, np.zeros((0, 2)), clock=FakeClock({}))
    assert measured["latencyP99Ms"] is None
