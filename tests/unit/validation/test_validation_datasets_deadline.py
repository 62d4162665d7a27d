"""Reading datasets from files (CSV, Parquet) and the run's own deadline."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelrollout.validation import command, datasets
from modelrollout.validation.results import CouldNotRun

pytestmark = pytest.mark.unit


def test_csv_and_parquet_of_the_same_data_read_alike(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("\ufeffa,b,label\n1.5,x,yes\n,y,no\n")
    pq.write_table(
        pa.table({"a": [1.5, None], "b": ["x", "y"], "label": ["yes", "no"]}), tmp_path / "d.pq"
    )
    from_csv = datasets.load(f"file://{tmp_path}/d.csv", format="csv", role="dataset")
    from_parquet = datasets.load(f"file://{tmp_path}/d.pq", format="parquet", role="dataset")
    for data in (from_csv, from_parquet):
        assert data.names == ["a", "b", "label"]  # the byte-order mark is not part of a name
        assert data.rows == 2
        assert data["a"].missing.tolist() == [False, True]
        assert data["a"].numbers[0] == 1.5
        assert data["b"].text.tolist() == ["x", "y"]


@pytest.mark.parametrize(
    ("content", "fmt", "expected"),
    [
        (None, "csv", r"the dataset could not be read: cannot fetch .*does not exist"),
        (b"", "csv", "is empty: it needs a header row"),
        (b"a,b\n", "csv", "has a header but no rows"),
        (b"a,b\n1\n", "csv", "line 2 has 1 cells"),
        (b"\xff\xfe\x00garbage", "csv", "is not UTF-8 text"),
        (b"a,b\n1,2\n", "parquet", "is not a readable Parquet file"),
    ],
)
def test_unreadable_datasets_cannot_run_and_name_the_file(
    tmp_path: Path, content: bytes | None, fmt: str, expected: str
) -> None:
    path = tmp_path / "data.bin"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CouldNotRun, match=expected) as info:
        datasets.load(f"file://{path}", format=fmt, role="dataset")
    assert "data.bin" in str(info.value)


def _busy(seconds: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        sum(range(1000))


def test_the_deadline_interrupts_a_long_step_and_is_disarmed_afterwards() -> None:
    started = time.monotonic()
    with pytest.raises(command.DeadlineExceeded), command.deadline(0.05):
        _busy(5)
    assert time.monotonic() - started < 1
    with command.deadline(0.05):
        pass
    time.sleep(0.1)  # an alarm left armed would fire here


def test_the_run_stops_before_the_job_deadline_to_leave_a_verdict() -> None:
    assert command.own_deadline(600) == 570
    assert command.own_deadline(60) == 54
    assert 0 < command.own_deadline(0.001) < 0.001
