"""Drift beyond chance: the chi-square test behind the Drifting condition, on its edges and on
simulated checks. Few live values, or a small reference, make a PSI over maxPSI common by chance
alone: such a check must not say Drifting, while a real shift on the same few values must.
Seeded, so the figures are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from modelrollout import api
from modelrollout.analysis import drift, monitor

pytestmark = pytest.mark.unit

UNIFORM = [0.25, 0.25, 0.25, 0.25]


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 10, 49])
@pytest.mark.parametrize("x", [0.0, 0.01, 0.5, 3.0, 9.49, 30.0, 200.0, 5000.0])
def test_the_chi_square_tail_matches_scipys(x: float, df: int) -> None:
    assert drift.chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-9, abs=1e-300)


def test_the_chi_square_tail_refuses_no_degrees_of_freedom() -> None:
    with pytest.raises(ValueError, match="at least 1 degree of freedom"):
        drift.chi2_sf(1.0, 0)


@pytest.mark.parametrize(
    ("reference", "live", "rows", "expected"),
    [
        (UNIFORM, [25, 25, 25, 25], None, 1.0),  # the reference's own shares
        (UNIFORM, [0, 0, 0, 0], None, 1.0),  # nothing counted: nothing to say
        ([0.5, 0.5, 0.0], [50, 40, 1], None, 0.0),  # where an exact reference has nothing
        ([0.5, 0.5, 0.0], [50, 50, 0], None, 1.0),  # empty on both sides: ignored
        ([1.0, 0.0], [10, 0], 100, 1.0),  # one bin used: no test
    ],
)
def test_the_homogeneity_test_on_its_edges(
    reference: list[float], live: list[float], rows: float | None, expected: float
) -> None:
    assert drift.homogeneity_p(reference, live, reference_rows=rows) == pytest.approx(expected)


def test_a_smaller_reference_makes_the_same_shift_likelier_by_chance() -> None:
    live = [250, 100, 75, 75]
    p = [drift.homogeneity_p(UNIFORM, live, reference_rows=m) for m in (40, 400, 4000, None)]
    assert p == sorted(p, reverse=True), p
    assert p[0] > 1e-3, p  # 40 rows cannot pin a PSI-0.29 shift down
    assert p[-1] < 1e-12, p


def test_the_homogeneity_test_is_pearsons_on_the_two_samples() -> None:
    live, rows = [30, 12, 9, 9], 80
    table = np.array([live, [r * rows for r in UNIFORM]])
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert drift.homogeneity_p(UNIFORM, live, reference_rows=rows) == pytest.approx(expected)


def spec(*, min_samples: int = 20, confidence: float = 0.9999) -> api.DriftSpec:
    return api.DriftSpec(maxPSI=0.25, bins=4, minSamples=min_samples, confidence=confidence)


def verdict(live: dict[str, list[float]], *, rows: float | None = None, **kw: int) -> str:
    found, _ = monitor.drift_verdict(
        spec(**kw),
        monitor.Figures(reference=dict.fromkeys(live, UNIFORM), live=live, reference_rows=rows),
    )
    return found.state


def test_few_values_give_no_verdict() -> None:
    assert verdict({"a": [0, 0, 0, 19]}, min_samples=20) == "Unknown"


def test_a_psi_over_max_psi_that_chance_explains_is_no_drift() -> None:
    live = {"a": [10, 4, 3, 3], "b": [5, 5, 5, 5]}
    assert drift.psi(UNIFORM, live["a"]) > 0.25  # the old rule's false alarm
    assert verdict(live) == "False"


def test_a_shift_on_the_same_few_values_is_drift() -> None:
    assert verdict({"a": [0, 0, 0, 20], "b": [5, 5, 5, 5]}) == "True"


def test_against_a_small_reference_only_a_large_shift_is_drift() -> None:
    moderate = {"a": [250, 100, 75, 75]}  # PSI 0.29
    assert verdict(moderate, rows=40) == "False"
    assert verdict(moderate, rows=100_000) == "True"
    assert verdict({"a": [0, 0, 25, 475]}, rows=40) == "True"


def unshifted_checks(
    *, checks: int, live: int, rows: int, bins: int, features: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per check: the largest PSI, and whether the judge said Drifting (confidence 0.99), with the
    reference (`rows` values) and the live values drawn from one distribution."""
    rng = np.random.default_rng(seed)
    rule = api.DriftSpec(maxPSI=0.25, bins=bins, minSamples=live, confidence=0.99)
    largest, said = np.zeros(checks), np.zeros(checks, dtype=bool)
    for i in range(checks):
        reference, counted = {}, {}
        for f in range(features):
            population = rng.normal(size=rows)
            edges = drift.bin_edges(population, bins=bins)
            held = np.bincount(drift.bin_index(population, edges), minlength=len(edges) + 1)
            values = drift.bin_index(rng.normal(size=live), edges)
            reference[f"f{f}"] = drift.shares(held.tolist())
            counted[f"f{f}"] = np.bincount(values, minlength=len(edges) + 1).tolist()
        figures = monitor.Figures(reference=reference, live=counted, reference_rows=rows)
        found, drifts = monitor.drift_verdict(rule, figures)
        largest[i], said[i] = drifts[0].psi, found.state == "True"
    return largest, said


@pytest.mark.parametrize(
    ("live", "rows", "psi_alone"),
    [
        # PSI alone over 0.25 on this share of checks at least: what the old rule raised.
        (20, 10_000, 0.5),
        (50, 90, 0.2),
        (150, 90, 0.0),
        (300, 90, 0.0),
    ],
)
def test_unshifted_inputs_raise_drifting_within_the_confidence(
    live: int, rows: int, psi_alone: float
) -> None:
    checks = 2000
    largest, said = unshifted_checks(
        checks=checks, live=live, rows=rows, bins=5, features=4, seed=live + rows
    )
    alpha = 0.01
    assert said.mean() <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / checks), said.mean()
    assert (largest > 0.25).mean() >= psi_alone, (largest > 0.25).mean()
