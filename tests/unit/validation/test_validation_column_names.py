"""Wrongly named columns stop the run even when their count fits; unreadable CSV names its file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelrollout import api
from modelrollout.models import loading
from modelrollout.validation import datasets, features, latency, request, runner, table
from modelrollout.validation.results import CouldNotRun

pytestmark = pytest.mark.unit

BUDGET = latency.Budget(single_calls=2, batch_calls=1, warmup_calls=0)
DATA_URI, REFERENCE_URI = "file:///d.csv", "file:///train.csv"


def columns(*names: str, n: int = 100) -> dict[str, list[Any]]:
    """A labelled dataset whose first two columns are named `names` (x1, x2 when trained)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    data: dict[str, list[Any]] = {name: list(x[:, i]) for i, name in enumerate(names[:2])}
    data["label"] = list(np.where(x[:, 0] + x[:, 1] > 0, "yes", "no"))
    for extra in names[2:]:
        data[extra] = list(np.where(rng.random(n) < 0.5, "north", "south"))
    return data


def nameless_model() -> loading.LoadedModel:
    # Fitted on a bare array, as every demo model is: it has n_features_in_, not feature names.
    data = columns("x1", "x2")
    estimator = LogisticRegression().fit(np.column_stack([data["x1"], data["x2"]]), data["label"])
    return loading.describe(
        estimator,
        name="m:2",
        uri="file:///m2",
        format="skops",
        digest="0" * 64,
        fail=loading.ModelLoadError,
    )


def run(
    validation: dict[str, Any],
    *,
    data: dict[str, list[Any]],
    reference: dict[str, list[Any]] | None = None,
) -> runner.Findings:
    tables = {DATA_URI: table.from_columns(data, source="d")}
    if reference is not None:
        tables[REFERENCE_URI] = table.from_columns(reference, source="train")
        validation = {"referenceDataset": {"uri": REFERENCE_URI, "target": "label"}, **validation}
    model = api.ModelSpec.model_validate({"name": "m", "version": "2", "uri": "file:///m2"})
    spec = api.ValidationSpec.model_validate(
        {"dataset": {"uri": DATA_URI, "target": "label"}, **validation}
    )
    found = runner.Findings()
    runner.run(
        request.Request(model=model, stable=None, validation=spec),
        found,
        load_table=lambda uri, *, format, role: tables[uri],
        load=lambda _: nameless_model(),
        budget=BUDGET,
    )
    return found


SCHEMA = {"schema": [{"name": "x1", "type": "float"}, {"name": "x2", "type": "float"}]}


def test_columns_other_than_the_features_the_schema_declares_stop_the_run() -> None:
    with pytest.raises(CouldNotRun) as caught:
        run(SCHEMA, data=columns("f0", "f1"))
    message = str(caught.value)
    assert f"feature columns of the dataset {DATA_URI} are not those validation.schema" in message
    assert "expected (declared): x1, x2; found: f0, f1" in message
    assert "'m:2' does not name its features" in message


def test_a_schema_declaring_only_some_columns_is_checked_column_by_column() -> None:
    # Not a list of the model's features: a missing one is a failed data check, not a refusal.
    found = run({"schema": [{"name": "x3", "type": "float"}]}, data=columns("x1", "x2"))
    assert {c.name: c.passed for c in found.checks} == {"data.type.x3": False}


def test_columns_other_than_the_reference_datasets_stop_the_run() -> None:
    with pytest.raises(CouldNotRun) as caught:
        run({}, data=columns("f0", "f1"), reference=columns("x1", "x2"))
    message = str(caught.value)
    assert f"feature columns of the dataset {DATA_URI} are not those of the reference" in message
    assert "expected (the reference's, in order): x1, x2; found: f0, f1" in message


def test_the_reference_columns_in_another_order_stop_the_run_too() -> None:
    with pytest.raises(CouldNotRun, match=r"same names in another order.*x1, x2; found: x2, x1"):
        run({}, data=columns("x2", "x1"), reference=columns("x1", "x2"))


def test_the_right_names_pass_with_a_schema_a_reference_and_a_group_column_left_out() -> None:
    found = run(
        {
            "schema": [*SCHEMA["schema"], {"name": "site", "type": "string"}],
            "fairness": {"groupColumn": "site", "maxGap": 1.0},
        },
        data=columns("x1", "x2", "site"),
        reference=columns("x1", "x2", "site"),
    )
    assert found.context["model"]["features"] == ["x1", "x2"]
    assert all(check.passed for check in found.checks), found.checks


def test_a_reference_with_another_number_of_features_is_no_objection() -> None:
    # The reference is the stable's training data; a candidate may add or drop a feature.
    found = run({}, data=columns("x1", "x2"), reference=columns("x1", "x2", "x3"))
    assert found.context["model"]["features"] == ["x1", "x2"]


def test_a_model_that_names_its_features_says_which_it_expected_and_what_it_found() -> None:
    data = table.from_columns({"a": [1], "b": [2], "y": ["x"]}, source="t")
    with pytest.raises(CouldNotRun) as caught:
        features.feature_columns(
            data, model_name="m", feature_names=["a", "c"], n_features=2, target="y"
        )
    message = str(caught.value)
    assert "lacks: c" in message
    assert "expected (the model's features, in order): a, c; found: a, b, y" in message


def test_a_cell_over_the_csv_field_limit_names_the_dataset_and_the_likely_cause(
    tmp_path: Path,
) -> None:
    path = tmp_path / "unclosed-quote.csv"
    # One stray quote opens a cell that swallows the rest of the file.
    path.write_text('x1,x2,label\n1,2,yes\n3,"4,no\n' + "5,6,yes\n" * 20_000)
    uri = f"file://{path}"
    with pytest.raises(CouldNotRun) as caught:
        datasets.load(uri, format="csv", role="dataset")
    message = str(caught.value)
    assert f"the dataset {uri}" in message
    assert f"longer than {csv.field_size_limit()} characters" in message
    assert "never closed" in message
    assert "format: parquet" in message


def test_hundreds_of_columns_are_listed_briefly_so_the_message_still_says_what_to_do() -> None:
    names = [f"f{i}" for i in range(300)]
    data = table.from_columns({n: [1.0] for n in [*names, "y"]}, source="t")
    expected = features.Expected(dataset=DATA_URI, reference=[f"x{i}" for i in range(300)])
    with pytest.raises(CouldNotRun) as caught:
        features.feature_columns(
            data, model_name="m", feature_names=None, n_features=300, target="y", expected=expected
        )
    message = str(caught.value)
    assert "f11, ... (288 more)" in message
    assert len(message) < 800
    assert message.endswith("make the dataset's header match the data the model was trained on")
