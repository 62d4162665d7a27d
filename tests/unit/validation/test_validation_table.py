"""Typed columns from raw cells: numbers, text, missing values, and malformed tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelrollout.validation import table

pytestmark = pytest.mark.unit


def test_numeric_text_becomes_numbers_and_missing_tokens_become_nan() -> None:
    col = table.column("x", ["1.5", "", "NA", "null", "2", " nan "])
    assert col.is_numeric
    assert col.missing.tolist() == [False, True, True, True, False, True]
    assert col.numbers[0] == 1.5
    assert math.isnan(col.numbers[1])
    assert col.missing_ratio == pytest.approx(4 / 6)


def test_a_single_word_makes_a_column_not_numeric_and_is_pointed_at() -> None:
    col = table.column("x", ["1", "two", "3"])
    assert not col.is_numeric
    assert col.not_numeric.tolist() == [False, True, False]


def test_integral_and_boolean_columns_are_recognised() -> None:
    assert table.column("n", ["1", "2", "", "4.0"]).is_integral
    assert not table.column("f", ["1", "2.5"]).is_integral
    assert table.column("b", ["true", "False", "1", None]).not_bool.tolist() == [False] * 4
    assert table.column("b", ["yes"]).not_bool.tolist() == [True]


def test_native_parquet_values_are_read_like_their_text() -> None:
    data = table.from_columns({"a": [1, None, 3.5], "b": [True, False, None]}, source="t")
    assert data.rows == 3
    assert data["a"].is_numeric
    assert data["a"].missing.tolist() == [False, True, False]
    assert data["b"].not_bool.tolist() == [False, False, False]


def test_ragged_rows_are_refused_with_the_line_number() -> None:
    with pytest.raises(table.DataError, match="line 3 has 1 cells but the header names 2"):
        table.from_rows(["a", "b"], [["1", "2"], ["3"]], source="the dataset d.csv")


def test_duplicate_column_names_are_refused() -> None:
    with pytest.raises(table.DataError, match="more than once: a"):
        table.from_rows(["a", "a"], [], source="d.csv")


def test_take_keeps_the_selected_rows_in_order() -> None:
    data = table.from_rows(["a", "b"], [["1", "x"], ["2", "y"], ["3", "z"]], source="d")
    kept = data.take(np.array([True, False, True]))
    assert kept.rows == 2
    assert kept["a"].numbers.tolist() == [1.0, 3.0]
    assert kept["b"].text.tolist() == ["x", "z"]
