"""Columns of a dataset as typed numpy arrays, built from raw cell values (CSV text or Parquet).

Pure: `datasets` reads files and hands the cells here; every check reads `Table`s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# The spellings of "no value" that CSV exports from pandas, R, Spark and spreadsheets produce.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
BOOL_TOKENS = frozenset({"true", "false", "0", "1"})

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ObjectArray = npt.NDArray[np.object_]


class DataError(ValueError):
    """The dataset cannot be read as a table: ragged rows, no header, duplicate columns."""


@dataclass(frozen=True)
class Column:
    """One column: its text, its numbers (NaN where missing or not a number) and masks."""

    name: str
    text: ObjectArray
    """Each cell as text; None where the cell is missing."""
    numbers: FloatArray
    missing: BoolArray
    not_numeric: BoolArray
    """Present cells that do not parse as a number."""

    @property
    def is_numeric(self) -> bool:
        return not bool(self.not_numeric.any())

    @property
    def is_integral(self) -> bool:
        present = self.numbers[~self.missing]
        return self.is_numeric and bool(
            np.all(np.isfinite(present) & (present == np.round(present)))
        )

    @property
    def not_bool(self) -> BoolArray:
        return np.array(
            [t is not None and t.strip().lower() not in BOOL_TOKENS for t in self.text],
            dtype=bool,
        )

    @property
    def missing_ratio(self) -> float:
        return float(self.missing.mean()) if len(self.missing) else 0.0


@dataclass(frozen=True)
class Table:
    columns: dict[str, Column]
    rows: int

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> Column:
        return self.columns[name]

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def take(self, mask: BoolArray) -> Table:
        """The rows where `mask` is true, in the same order."""
        return Table(
            columns={
                name: Column(
                    name=name,
                    text=c.text[mask],
                    numbers=c.numbers[mask],
                    missing=c.missing[mask],
                    not_numeric=c.not_numeric[mask],
                )
                for name, c in self.columns.items()
            },
            rows=int(mask.sum()),
        )


def _cell_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return None if text.strip().lower() in MISSING_TOKENS else text


def _number(text: str | None) -> float:
    if text is None:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def column(name: str, values: Iterable[object]) -> Column:
    """A typed column from raw cells: strings from CSV or native values from Parquet."""
    text = np.array([_cell_text(v) for v in values], dtype=object)
    missing = np.array([t is None for t in text], dtype=bool)
    numbers = np.array([_number(t) for t in text], dtype=np.float64)
    # "nan" text is already missing; a present cell whose number is NaN did not parse.
    not_numeric = ~missing & np.isnan(numbers)
    return Column(name=name, text=text, numbers=numbers, missing=missing, not_numeric=not_numeric)


def from_rows(header: Sequence[str], rows: Sequence[Sequence[object]], *, source: str) -> Table:
    """A table from a header and rows of cells; `source` names the file in errors."""
    names = [h.strip() for h in header]
    if not names or all(not n for n in names):
        raise DataError(f"{source} has no header row: the first line must name the columns")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"{source} names columns more than once: {', '.join(duplicates)}")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(names):
            raise DataError(
                f"{source} line {number} has {len(row)} cells but the header names "
                f"{len(names)} columns: fix the row or quote cells that contain commas"
            )
    cells = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return Table(
        columns={n: column(n, values) for n, values in zip(names, cells, strict=True)},
        rows=len(rows),
    )


def from_columns(data: dict[str, Sequence[object]], *, source: str) -> Table:
    """A table from named columns of equal length (what Parquet readers give)."""
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise DataError(f"{source} has columns of different lengths: {sorted(lengths)}")
    return Table(
        columns={n: column(n, v) for n, v in data.items()},
        rows=lengths.pop() if lengths else 0,
    )
