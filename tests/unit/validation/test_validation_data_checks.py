"""Data checks: the declared schema and drift against a reference, as pure functions of tables."""

from __future__ import annotations

import numpy as np
import pytest

from modelrollout import api
from modelrollout.validation import data_checks, table

pytestmark = pytest.mark.unit


def _table(**columns: list[object]) -> table.Table:
    return table.from_columns(columns, source="test")


def _by_name(results: list[data_checks.CheckResult]) -> dict[str, data_checks.CheckResult]:
    return {r.name: r for r in results}


def test_a_dataset_matching_its_schema_passes_every_check() -> None:
    data = _table(age=[30, 40, 50], name=["a", "b", "c"])
    rules = [
        api.ColumnSpec(name="age", type="int", min=0, max=120),
        api.ColumnSpec(name="name", type="string"),
    ]
    results = data_checks.check_schema(data, rules=rules, max_missing_ratio=0.0)
    assert all(r.passed for r in results)
    assert set(_by_name(results)) == {
        "data.type.age",
        "data.range.age",
        "data.type.name",
        "data.missing.age",
        "data.missing.name",
    }


def test_a_declared_column_that_is_absent_fails_and_lists_the_columns_present() -> None:
    results = data_checks.check_schema(
        _table(a=[1]), rules=[api.ColumnSpec(name="b", type="float")], max_missing_ratio=None
    )
    (result,) = results
    assert not result.passed
    assert result.name == "data.type.b"
    assert "not in the dataset (it has: a)" in result.message


@pytest.mark.parametrize(
    ("declared", "cells", "bad"),
    [
        ("float", ["1.5", "x", "2"], 1),
        ("int", ["1", "2.5", "3"], 1),
        ("bool", ["true", "maybe", "0"], 1),
        ("string", ["1", "x", ""], 0),
    ],
)
def test_values_of_the_wrong_type_are_counted_and_quoted(
    declared: api.ColumnType, cells: list[object], bad: int
) -> None:
    results = data_checks.check_schema(
        _table(c=cells), rules=[api.ColumnSpec(name="c", type=declared)], max_missing_ratio=None
    )
    check = _by_name(results)["data.type.c"]
    assert check.passed is (bad == 0)
    if bad:
        assert f"{bad} of 3 values" in check.message
        assert "rows 2" in check.message


def test_values_out_of_range_fail_with_their_rows_and_values() -> None:
    rule = api.ColumnSpec(name="x", type="float", min=0, max=10)
    results = data_checks.check_schema(
        _table(x=[1, -2, 5, 11, None]), rules=[rule], max_missing_ratio=None
    )
    check = _by_name(results)["data.range.x"]
    assert not check.passed
    assert check.value == 2
    assert "rows 2, 4: -2, 11" in check.message


def test_a_column_rule_on_missing_values_overrides_the_dataset_wide_one() -> None:
    data = _table(a=[1, None, 3, 4], b=[1, None, 3, 4])
    rules = [api.ColumnSpec(name="a", type="float", max_missing_ratio=0.5)]
    results = _by_name(data_checks.check_schema(data, rules=rules, max_missing_ratio=0.1))
    assert results["data.missing.a"].passed
    assert not results["data.missing.b"].passed
    assert results["data.missing.b"].value == 0.25
    assert results["data.missing.b"].max == 0.1


def test_identical_distributions_do_not_drift() -> None:
    values = np.random.default_rng(0).normal(size=500)
    assert data_checks.psi_numeric(values, values) == pytest.approx(0.0, abs=1e-9)


def test_a_shifted_distribution_drifts_far_beyond_the_usual_limit() -> None:
    rng = np.random.default_rng(0)
    assert data_checks.psi_numeric(rng.normal(size=500), rng.normal(1.0, size=500)) > 0.5


def test_two_small_samples_of_one_distribution_stay_under_the_usual_limit() -> None:
    # Fixed 10-bin PSI on 60 rows is dominated by sampling noise; fewer bins keep it honest.
    rng = np.random.default_rng(1)
    psis = [data_checks.psi_numeric(rng.normal(size=90), rng.normal(size=60)) for _ in range(50)]
    assert float(np.mean(psis)) < 0.1


def test_categorical_drift_counts_categories_new_to_the_reference() -> None:
    assert data_checks.psi_categorical(["a", "b"] * 50, ["a", "b"] * 50) == pytest.approx(0.0)
    assert data_checks.psi_categorical(["a"] * 100, ["a"] * 50 + ["c"] * 50) > 1.0


def test_drift_is_checked_per_shared_column_and_skips_the_reference_target() -> None:
    rng = np.random.default_rng(0)
    ref = _table(x=list(rng.normal(size=200)), y=["a"] * 200, only_ref=[1] * 200)
    cur = _table(x=list(rng.normal(3.0, size=200)), y=["b"] * 200)
    results = _by_name(data_checks.check_drift(cur, reference=ref, max_drift=0.2, skip=["y"]))
    assert set(results) == {"data.drift.x"}
    assert not results["data.drift.x"].passed
    assert "drift (PSI) of column x" in results["data.drift.x"].message


def test_without_a_limit_drift_is_reported_but_bounds_nothing() -> None:
    ref, cur = _table(x=[1.0] * 50), _table(x=[9.0] * 50)
    (result,) = data_checks.check_drift(cur, reference=ref, max_drift=None)
    assert result.passed
    assert result.value is not None
    assert result.value > 1.0
