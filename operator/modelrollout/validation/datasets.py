"""Read a dataset (CSV, or Parquet with the `parquet` extra) from any URI the models package fetches.

The only file-reading edge of validation: every failure becomes `CouldNotRun` naming the URI.
"""

from __future__ import annotations

import csv
from pathlib import Path

from modelrollout.models import fetch
from modelrollout.validation import table
from modelrollout.validation.results import CouldNotRun


def read_csv(path: Path, *, source: str) -> table.Table:
    # utf-8-sig drops the byte-order mark spreadsheet exports put before the first header.
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            rows = [row for row in reader if row]
        except csv.Error as e:
            raise table.DataError(_csv_error(e, source=source, line=reader.line_num)) from e
    if not rows:
        raise table.DataError(f"{source} is empty: it needs a header row and data rows")
    return table.from_rows(rows[0], rows[1:], source=source)


def _csv_error(error: csv.Error, *, source: str, line: int) -> str:
    if "field larger than field limit" in str(error):
        return (
            f"{source} has a cell longer than {csv.field_size_limit()} characters, the CSV "
            f"reader's limit, by line {line}: almost always a quote (\") that opens a cell and "
            "is never closed, so the rest of the file reads as one cell: close or remove it; or "
            "the file is not CSV (if it is Parquet, set format: parquet)"
        )
    return f"{source} is not valid CSV at line {line} ({error}): fix that line"


def read_parquet(path: Path, *, source: str) -> table.Table:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - an optional extra
    except ImportError as e:
        raise table.DataError(
            f"{source} is Parquet, which needs pyarrow: install model-rollout[parquet] "
            "or convert the dataset to CSV"
        ) from e
    try:
        data = pq.read_table(path).to_pydict()
    except Exception as e:
        raise table.DataError(f"{source} is not a readable Parquet file ({e})") from e
    return table.from_columns(data, source=source)


def load(uri: str, *, format: str, role: str) -> table.Table:
    """Fetch and parse; `role` ("dataset", "reference dataset") says which one failed."""
    source = f"the {role} {uri}"
    try:
        path = fetch.fetch_to_path(uri)
    except fetch.FetchError as e:
        raise CouldNotRun(f"the {role} could not be read: {e}") from e
    try:
        data = (
            read_parquet(path, source=source)
            if format == "parquet"
            else read_csv(path, source=source)
        )
    except UnicodeDecodeError as e:
        raise CouldNotRun(
            f"{source} is not UTF-8 text ({e.reason} at byte {e.start}); if it is Parquet, "
            "set format: parquet"
        ) from e
    except (table.DataError, csv.Error) as e:
        raise CouldNotRun(str(e)) from e
    if data.rows == 0:
        raise CouldNotRun(f"{source} has a header but no rows: nothing to validate on")
    return data
