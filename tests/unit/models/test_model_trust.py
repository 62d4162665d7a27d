"""The skops allow-list: exact classes only, and a crafted file that would run code is refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
import skops.io.exceptions
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.linear_model import LogisticRegression, TweedieRegressor
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

from modelrollout.models import loading, trust

pytestmark = pytest.mark.unit

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
DIABETES_X, DIABETES_Y = load_diabetes(return_X_y=True)


def _json(value: str) -> dict[str, Any]:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}  # fmt: skip


def exec_through_builtins(code: str) -> dict[str, Any]:
    """A skops node for {code: ...} whose key type is `builtins.exec`, reached through a name
    under a module the old list trusted whole: constructing the dict calls exec(code)."""
    builtins_module = {"__class__": "__builtins__", "__module__": "sklearn.metrics._dist_metrics",
                       "__loader__": "TypeNode"}  # fmt: skip
    exec_method = {"__class__": "__builtins__", "__module__": "sklearn.metrics._dist_metrics",
                   "__loader__": "MethodNode",
                   "content": {"func": "exec", "obj": builtins_module}}  # fmt: skip
    key_types = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                 "content": [exec_method]}  # fmt: skip
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
            "key_types": key_types, "content": {code: _json("payload")}}  # fmt: skip


def hostile_model(path: Path, *, marker: Path) -> Path:
    """A real fitted classifier saved by skops, with one attribute added to its schema.json whose
    loading writes `marker`: what an attacker who can publish a model file would ship."""
    estimator = LogisticRegression(max_iter=500).fit(IRIS_X, IRIS_Y)
    skops.io.dump(estimator, path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    attrs = schema["content"]
    attrs["content"]["audit_note_"] = exec_through_builtins(
        f"import pathlib; pathlib.Path({str(marker)!r}).write_text('code ran on load')"
    )
    attrs["key_types"]["content"].append(
        {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
    )
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_crafted_file_that_would_exec_code_is_refused_and_the_code_never_runs(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    path = hostile_model(tmp_path / "evil.skops", marker=marker)
    with pytest.raises(loading.ModelLoadError) as caught:
        loading.load_model(uri=f"file://{path}", name="evil")
    assert not marker.exists()
    message = str(caught.value)
    assert "outside the trusted list" in message
    assert "sklearn.metrics._dist_metrics.__builtins__.exec" in message
    assert "'evil'" in message


def test_the_crafted_file_does_run_code_when_skops_trusts_what_it_names(tmp_path: Path) -> None:
    # Proves the fixture is a real exploit (so the refusal above is what stops it), and that the
    # skops' own audit stops it too once it is given the vetted list instead of the file's.
    marker = tmp_path / "pwned"
    path = hostile_model(tmp_path / "evil.skops", marker=marker)
    with pytest.raises(skops.io.exceptions.UntrustedTypesFoundException):
        skops.io.load(path, trusted=sorted(trust.allowed()))
    assert not marker.exists()
    skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    assert marker.read_text() == "code ran on load"


@pytest.mark.parametrize(
    "name",
    [
        "sklearn.metrics._dist_metrics.__builtins__",  # the builtins module itself
        "sklearn.metrics._dist_metrics.__builtins__.exec",  # an attribute reached through it
        "sklearn._loss.loss.__builtins__",
        "sklearn.gaussian_process.kernels.pairwise_kernels",  # a function the module imports
        "sklearn.gaussian_process.kernels.clone",
        "sklearn.gaussian_process.kernels.np",  # a module it imports
        "sklearn.gaussian_process.kernels.ConvergenceWarning",  # a class it re-exports
        "sklearn.metrics._dist_metrics.__pyx_unpickle_DistanceMetric",
        "sklearn.metrics._dist_metrics.PyFuncDistance64",  # calls a Python function per distance
        "sklearn.tree._tree.Tree.__reduce__",  # a method of a trusted class
        "sklearn.gaussian_process.kernels.RBF.__call__",
        "builtins.eval",
        "sklearn.tree._tree.Tree.",
        "Tree",
    ],
)
def test_anything_but_a_vetted_class_is_untrusted(name: str) -> None:
    assert trust.untrusted(["sklearn.tree._tree.Tree", name]) == [name]


@pytest.mark.parametrize(
    "name",
    [
        "sklearn.tree._tree.Tree",
        "sklearn._loss.loss.HalfTweedieLossIdentity",
        "sklearn._loss.link.LogitLink",
        "sklearn.gaussian_process.kernels.RBF",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    ],
)
def test_the_helper_classes_fitted_estimators_carry_are_trusted(name: str) -> None:
    assert trust.is_trusted(name)


def test_vetting_drops_every_name_that_is_not_a_class_defined_where_it_says() -> None:
    planted = {
        "sklearn.tree._tree.Tree",
        "sklearn.gaussian_process.kernels.clone",
        "sklearn.gaussian_process.kernels.ConvergenceWarning",
        "sklearn.gaussian_process.kernels.np",
        "sklearn.metrics._dist_metrics.__builtins__",
        "sklearn.tree._tree.Tree.predict",
        "sklearn.no_such_module.Thing",
        "sklearn.tree._tree.NoSuchClass",
    }
    assert trust.vet(planted) == {"sklearn.tree._tree.Tree"}


def test_every_listed_name_is_a_class_of_the_installed_scikit_learn() -> None:
    # A scikit-learn upgrade that moves or removes one shows here, not as a refused model.
    assert trust.allowed() == trust.TRUSTED_TYPES


@pytest.mark.parametrize(
    ("estimator", "x", "y"),
    [
        (GaussianProcessClassifier(random_state=0), IRIS_X, IRIS_Y),
        (KNeighborsClassifier(algorithm="kd_tree"), IRIS_X, IRIS_Y),
        (HistGradientBoostingClassifier(max_iter=5), IRIS_X, IRIS_Y),
        (MLPClassifier(max_iter=2000, random_state=0), IRIS_X, IRIS_Y),
        (CalibratedClassifierCV(LogisticRegression(max_iter=500), cv=3), IRIS_X, IRIS_Y),
        (TweedieRegressor(power=0, link="identity"), DIABETES_X, DIABETES_Y),
    ],
    ids=["gaussian-process", "kd-tree", "hist-gradient-boosting", "mlp", "calibrated", "tweedie"],
)
def test_estimators_that_carry_helper_classes_still_load(
    estimator: Any, x: np.ndarray, y: np.ndarray, tmp_path: Path
) -> None:
    estimator.fit(x, y)
    path = tmp_path / "m.skops"
    skops.io.dump(estimator, path)
    assert skops.io.get_untrusted_types(file=path), "the case must need the allow-list"
    model = loading.load_model(uri=f"file://{path}")
    np.testing.assert_allclose(model.predict(x[:10]), estimator.predict(x[:10]))
