"""load_model: formats, the trust rules, the sha256 pin, and what a LoadedModel reports."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import skops.io
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC

from modelrollout.models import loading, trust

pytestmark = pytest.mark.unit

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
DIABETES_X, DIABETES_Y = load_diabetes(return_X_y=True)


def save_skops(estimator: Any, path: Path) -> str:
    skops.io.dump(estimator, path)
    return f"file://{path}"


def test_a_skops_classifier_loads_with_its_classes_features_and_digest(tmp_path: Path) -> None:
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        IRIS_X, IRIS_Y
    )
    uri = save_skops(estimator, tmp_path / "iris.skops")
    model = loading.load_model(uri=uri, name="iris")
    assert model.kind == "classifier"
    assert model.classes == [0, 1, 2]
    assert model.n_features_in == 4
    assert model.feature_names is None
    assert model.digest == hashlib.sha256((tmp_path / "iris.skops").read_bytes()).hexdigest()
    np.testing.assert_array_equal(model.predict(IRIS_X[:5]), estimator.predict(IRIS_X[:5]))
    proba = model.predict_proba(IRIS_X[:5])
    assert proba is not None
    np.testing.assert_allclose(proba, estimator.predict_proba(IRIS_X[:5]))


def test_a_forest_loads_because_its_tree_type_is_on_the_vetted_list(tmp_path: Path) -> None:
    estimator = RandomForestClassifier(n_estimators=3, random_state=0).fit(IRIS_X, IRIS_Y)
    model = loading.load_model(uri=save_skops(estimator, tmp_path / "rf.skops"))
    np.testing.assert_array_equal(model.predict(IRIS_X), estimator.predict(IRIS_X))


def test_a_regressor_has_no_classes_and_no_probabilities(tmp_path: Path) -> None:
    estimator = LinearRegression().fit(DIABETES_X, DIABETES_Y)
    model = loading.load_model(uri=save_skops(estimator, tmp_path / "d.skops"))
    assert model.kind == "regressor"
    assert model.classes is None
    assert model.n_features_in == 10
    assert model.predict_proba(DIABETES_X[:2]) is None
    np.testing.assert_allclose(model.predict(DIABETES_X[:3]), estimator.predict(DIABETES_X[:3]))


def test_a_classifier_without_probabilities_returns_none_for_them(tmp_path: Path) -> None:
    model = loading.load_model(uri=save_skops(SVC().fit(IRIS_X, IRIS_Y), tmp_path / "svc.skops"))
    assert model.kind == "classifier"
    assert model.predict_proba(IRIS_X[:2]) is None


def test_a_skops_file_with_an_untrusted_type_is_refused_naming_the_type(tmp_path: Path) -> None:
    estimator = make_pipeline(FunctionTransformer(print), LinearRegression())
    uri = save_skops(estimator, tmp_path / "f.skops")
    with pytest.raises(loading.ModelLoadError) as caught:
        loading.load_model(uri=uri, name="custom")
    message = str(caught.value)
    assert "'custom'" in message
    assert uri in message
    assert "builtins.print" in message
    assert "re-save" in message


def test_the_vetted_list_accepts_loss_modules_but_not_arbitrary_code() -> None:
    assert trust.untrusted(["sklearn._loss.loss.HalfSquaredError", "builtins.eval"]) == [
        "builtins.eval"
    ]


def test_joblib_is_refused_without_allow_unsafe_pickle_and_says_how_to_fix(tmp_path: Path) -> None:
    joblib.dump(LinearRegression().fit(DIABETES_X, DIABETES_Y), tmp_path / "m.joblib")
    with pytest.raises(loading.ModelLoadError, match=r"arbitrary code.*skops.*allowUnsafePickle"):
        loading.load_model(uri=f"file://{tmp_path}/m.joblib", format="joblib")


def test_joblib_and_pickle_load_when_unsafe_pickle_is_allowed(tmp_path: Path) -> None:
    estimator = LogisticRegression(max_iter=500).fit(IRIS_X, IRIS_Y)
    joblib.dump(estimator, tmp_path / "m.joblib")
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(estimator))
    for name, fmt in (("m.joblib", "joblib"), ("m.pkl", "pickle")):
        model = loading.load_model(
            uri=f"file://{tmp_path}/{name}", format=fmt, allow_unsafe_pickle=True
        )
        assert model.kind == "classifier"
        assert model.format == fmt


def test_a_matching_sha256_pin_loads_and_a_wrong_one_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.skops"
    uri = save_skops(LinearRegression().fit(DIABETES_X, DIABETES_Y), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert loading.load_model(uri=uri, sha256=digest.upper()).digest == digest
    # Garbage after a wrong pin proves the pin is checked before any deserialising.
    path.write_bytes(b"not a model")
    with pytest.raises(loading.ModelLoadError, match=r"sha256 mismatch.*update the pin"):
        loading.load_model(uri=uri, sha256=digest)


def test_a_malformed_pin_is_reported_as_such(tmp_path: Path) -> None:
    uri = save_skops(LinearRegression().fit(DIABETES_X, DIABETES_Y), tmp_path / "m.skops")
    with pytest.raises(loading.ModelLoadError, match="not 64 hex digits"):
        loading.load_model(uri=uri, sha256="abc")


def test_a_corrupt_skops_file_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "bad.skops").write_bytes(b"garbage")
    with pytest.raises(loading.ModelLoadError, match="not a valid skops file"):
        loading.load_model(uri=f"file://{tmp_path}/bad.skops", name="bad")


def test_a_missing_file_is_a_load_error_naming_model_and_uri(tmp_path: Path) -> None:
    with pytest.raises(loading.ModelLoadError, match=r"model 'iris' from 'file://.*does not exist"):
        loading.load_model(uri=f"file://{tmp_path}/none.skops", name="iris")


def test_an_unknown_format_lists_the_formats(tmp_path: Path) -> None:
    with pytest.raises(loading.ModelLoadError, match="skops, joblib, pickle, onnx"):
        loading.load_model(uri=f"file://{tmp_path}/m", format="h5")


def test_onnx_without_onnxruntime_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    (tmp_path / "m.onnx").write_bytes(b"\x00")
    with pytest.raises(loading.ModelLoadError, match=r"model-rollout\[onnx\]"):
        loading.load_model(uri=f"file://{tmp_path}/m.onnx", format="onnx")


def test_a_clusterer_is_refused_as_neither_classifier_nor_regressor(tmp_path: Path) -> None:
    uri = save_skops(KMeans(n_clusters=2, n_init=1).fit(IRIS_X), tmp_path / "k.skops")
    with pytest.raises(
        loading.ModelLoadError, match="KMeans, which is neither a classifier nor a regressor"
    ):
        loading.load_model(uri=uri)


def test_rows_of_the_wrong_width_or_rank_are_input_errors(tmp_path: Path) -> None:
    uri = save_skops(LogisticRegression(max_iter=500).fit(IRIS_X, IRIS_Y), tmp_path / "m.skops")
    model = loading.load_model(uri=uri, name="iris")
    with pytest.raises(loading.ModelInputError, match="takes 4 features per row; got 3"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(loading.ModelInputError, match="2-D batch"):
        model.predict_proba(np.zeros(4))


def test_an_onnx_classifier_and_regressor_predict_like_the_originals(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    classifier = LogisticRegression(max_iter=1000).fit(IRIS_X, IRIS_Y)
    regressor = LinearRegression().fit(DIABETES_X, DIABETES_Y)
    for name, estimator, x in (("c", classifier, IRIS_X), ("r", regressor, DIABETES_X)):
        onnx = skl2onnx.to_onnx(estimator, x[:1].astype(np.float32))
        (tmp_path / f"{name}.onnx").write_bytes(onnx.SerializeToString())
    model = loading.load_model(uri=f"file://{tmp_path}/c.onnx", format="onnx")
    assert model.kind == "classifier"
    assert model.n_features_in == 4
    np.testing.assert_array_equal(model.predict(IRIS_X), classifier.predict(IRIS_X))
    proba = model.predict_proba(IRIS_X[:3])
    assert proba is not None
    np.testing.assert_allclose(proba, classifier.predict_proba(IRIS_X[:3]), atol=1e-5)
    model = loading.load_model(uri=f"file://{tmp_path}/r.onnx", format="onnx")
    assert model.kind == "regressor"
    assert model.predict_proba(DIABETES_X[:1]) is None
    np.testing.assert_allclose(
        model.predict(DIABETES_X[:5]), regressor.predict(DIABETES_X[:5]), rtol=1e-4
    )


def test_a_file_that_is_not_onnx_is_a_load_error(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    (tmp_path / "m.onnx").write_bytes(b"not onnx")
    with pytest.raises(loading.ModelLoadError, match="not a valid ONNX model"):
        loading.load_model(uri=f"file://{tmp_path}/m.onnx", format="onnx")
