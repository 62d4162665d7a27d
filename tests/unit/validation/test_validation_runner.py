"""The runner end to end in-process: real scikit-learn models, tables and loaders handed in."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelrollout import api
from modelrollout.models import loading
from modelrollout.validation import latency, request, runner, table
from modelrollout.validation.results import CouldNotRun

pytestmark = pytest.mark.unit

BUDGET = latency.Budget(single_calls=5, batch_calls=2, warmup_calls=0)


def _dataset(n: int = 200, *, site: bool = False) -> dict[str, list[Any]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    label = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    data = {"x1": list(x[:, 0]), "x2": list(x[:, 1]), "label": list(label)}
    if site:
        data["site"] = list(np.where(rng.random(n) < 0.5, "north", "south"))
    return data


def _model(name: str, *, flip: bool = False) -> loading.LoadedModel:
    cols = _dataset()
    x = np.column_stack([cols["x1"], cols["x2"]])
    y = np.array(cols["label"])
    estimator = LogisticRegression().fit(-x if flip else x, y)

    def fail(cause: str) -> loading.ModelLoadError:
        return loading.ModelLoadError(cause)

    return loading.describe(
        estimator, name=name, uri=f"file:///{name}", format="skops", digest="0" * 64, fail=fail
    )


def _request(validation: dict[str, Any], *, stable: bool = False) -> request.Request:
    model = {"name": "m", "version": "2", "uri": "file:///m2"}
    return request.Request(
        model=api.ModelSpec.model_validate(model),
        stable=api.ModelSpec.model_validate({**model, "version": "1", "uri": "file:///m1"})
        if stable
        else None,
        validation=api.ValidationSpec.model_validate(
            {"dataset": {"uri": "file:///d.csv", "target": "label"}, **validation}
        ),
    )


def _run(
    validation: dict[str, Any],
    *,
    stable: bool = False,
    data: dict[str, list[Any]] | None = None,
    models: dict[str, loading.LoadedModel] | None = None,
    found: runner.Findings | None = None,
) -> runner.Findings:
    found = found or runner.Findings()
    tables = {"file:///d.csv": table.from_columns(data or _dataset(), source="d")}
    known = {"file:///m2": _model("m2"), "file:///m1": _model("m1")} if models is None else models

    def load_table(uri: str, *, format: str, role: str) -> table.Table:
        del format, role
        return tables[uri]

    def load(spec: api.ModelSpec) -> loading.LoadedModel:
        if spec.uri not in known:
            raise CouldNotRun(f"cannot load model {spec.uri}")
        return known[spec.uri]

    runner.run(
        _request(validation, stable=stable), found, load_table=load_table, load=load, budget=BUDGET
    )
    return found


def _names(found: runner.Findings) -> dict[str, bool]:
    return {c.name: c.passed for c in found.checks}


def test_a_good_model_passes_every_check_and_the_context_says_what_was_measured() -> None:
    found = _run(
        {
            "schema": [{"name": "x1", "type": "float"}, {"name": "site", "type": "string"}],
            "thresholds": {"accuracy": {"min": 0.9}, "rocAuc": {"min": 0.9}},
            "fairness": {"groupColumn": "site", "maxGap": 0.2},
            "robustness": {"minStability": 0.9},
            "compareWithStable": {"metric": "accuracy", "maxDrop": 0.01},
        },
        stable=True,
        data=_dataset(site=True),
    )
    assert all(_names(found).values()), found.checks
    assert {"quality.accuracy", "fairness.accuracyGap", "robustness.stability"} <= set(
        _names(found)
    )
    assert found.context["model"]["features"] == ["x1", "x2"]  # the group column is not one
    assert found.context["metrics"]["accuracy"] > 0.9
    assert found.context["stable"]["version"] == "1"


def test_a_worse_candidate_fails_the_comparison_with_the_stable_model() -> None:
    models = {"file:///m2": _model("m2", flip=True), "file:///m1": _model("m1")}
    found = _run({"compareWithStable": {"maxDrop": 0.05}}, stable=True, models=models)
    assert _names(found) == {"compareWithStable.accuracy": False}


def test_without_a_stable_version_the_comparison_passes_and_says_why() -> None:
    found = _run({"compareWithStable": {"maxDrop": 0.0}})
    (check,) = found.checks
    assert check.passed
    assert check.message == "no stable version yet: nothing to compare"


def test_a_fairness_column_absent_from_the_dataset_cannot_run() -> None:
    with pytest.raises(CouldNotRun, match=r"validation.fairness.groupColumn names column 'sex'"):
        _run({"fairness": {"groupColumn": "sex", "maxGap": 0.1}})


def test_rows_without_a_target_are_left_out_of_the_model_checks() -> None:
    data = _dataset(100)
    data["label"][:10] = [""] * 10
    found = _run({"thresholds": {"accuracy": {"min": 0.5}}}, data=data)
    assert found.context["dataset"] == {"uri": "file:///d.csv", "rows": 100, "rowsEvaluated": 90}


def test_data_checks_survive_a_model_that_cannot_be_loaded() -> None:
    found = runner.Findings()
    with pytest.raises(CouldNotRun, match="cannot load model file:///m2"):
        _run({"maxMissingRatio": 0.0}, models={}, found=found)
    assert {c.name for c in found.checks} == {f"data.missing.{n}" for n in _dataset()}


def test_extra_columns_a_model_without_feature_names_cannot_place_stop_the_run() -> None:
    with pytest.raises(CouldNotRun, match=r"takes 2 features but the dataset has 3 columns"):
        _run({}, data=_dataset(site=True))
