"""Prediction latency: time single-row and batch calls, bounded in count and in time.

The clock is a parameter so tests can drive it; the runner passes `time.perf_counter`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Clock = Callable[[], float]


@dataclass(frozen=True)
class Budget:
    """How much timing to do. Enough calls for a p99, few enough for a slow model to finish."""

    single_calls: int = 200
    batch_calls: int = 50
    batch_size: int = 32
    warmup_calls: int = 3
    """Untimed calls first: the first predictions pay for lazy imports and cold caches."""
    seconds_per_kind: float = 3.0
    """Stop timing a kind once this much time went by (but never before `min_calls`)."""
    min_calls: int = 5


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: a value that was actually observed, never an interpolation."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _time_calls(
    predict: Callable[[np.ndarray], Any],
    batches: Callable[[int], np.ndarray],
    *,
    calls: int,
    budget: Budget,
    clock: Clock,
) -> list[float]:
    for i in range(budget.warmup_calls):
        predict(batches(i))
    samples: list[float] = []
    started = clock()
    for i in range(calls):
        rows = batches(i)
        t0 = clock()
        predict(rows)
        samples.append((clock() - t0) * 1000.0)
        if len(samples) >= budget.min_calls and clock() - started > budget.seconds_per_kind:
            break
    return samples


def measure(
    predict: Callable[[np.ndarray], Any],
    features: np.ndarray,
    *,
    budget: Budget | None = None,
    clock: Clock,
) -> dict[str, Any]:
    """p50 and p99 milliseconds of single-row and batch predictions over the dataset's rows."""
    budget = budget or Budget()
    n = len(features)
    if n == 0:
        return {"latencyP50Ms": None, "latencyP99Ms": None}
    size = min(budget.batch_size, n)

    def one_row(i: int) -> np.ndarray:
        return features[i % n : i % n + 1]

    def one_batch(i: int) -> np.ndarray:
        start = (i * size) % max(n - size + 1, 1)
        return features[start : start + size]

    single = _time_calls(predict, one_row, calls=budget.single_calls, budget=budget, clock=clock)
    batch = _time_calls(predict, one_batch, calls=budget.batch_calls, budget=budget, clock=clock)
    return {
        "latencyP50Ms": percentile(single, 50),
        "latencyP99Ms": percentile(single, 99),
        "batchLatencyP50Ms": percentile(batch, 50),
        "batchLatencyP99Ms": percentile(batch, 99),
        "singleCalls": len(single),
        "batchCalls": len(batch),
        "batchSize": size,
    }
