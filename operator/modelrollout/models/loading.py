"""Load a model artifact into a `LoadedModel` that the server and the validator both predict with.

skops loads vetted types only; joblib/pickle need allow_unsafe_pickle; ONNX needs the onnx extra.
"""

# joblib and pickle run arbitrary code when loaded, hence the explicit opt-in. A sha256 pin is
# checked before any byte is deserialised.

from __future__ import annotations

import dataclasses
import hashlib
import re
import warnings
from pathlib import Path
from typing import Any, Literal, Protocol

import joblib
import numpy as np
import sklearn.base
import skops.io

from modelrollout import models
from modelrollout.models import fetch, trust

FORMATS = models.FORMATS
Kind = Literal["classifier", "regressor"]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ModelLoadError(Exception):
    """A model could not be loaded; the message names the model, the URI, the cause and the fix."""


class ModelInputError(ValueError):
    """Rows that do not fit the model (wrong rank or feature count); callers answer 400."""


class _Fail(Protocol):
    def __call__(self, cause: str) -> ModelLoadError: ...


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedModel:
    name: str
    uri: str
    format: str
    estimator: Any
    kind: Kind
    classes: list[Any] | None
    n_features_in: int | None
    feature_names: list[str] | None
    digest: str

    def check_input(self, rows: np.ndarray) -> None:
        if rows.ndim != 2:
            raise ModelInputError(
                f"model {self.name!r} takes a 2-D batch [rows, features]; got shape {list(rows.shape)}"
            )
        if self.n_features_in is not None and rows.shape[1] != self.n_features_in:
            raise ModelInputError(
                f"model {self.name!r} takes {self.n_features_in} features per row; "
                f"got {rows.shape[1]} (shape {list(rows.shape)})"
            )

    def predict(self, rows: np.ndarray) -> np.ndarray:
        self.check_input(rows)
        return np.asarray(self._call("predict", rows))

    def predict_proba(self, rows: np.ndarray) -> np.ndarray | None:
        """Class probabilities, or None for regressors and classifiers without them."""
        if self.kind != "classifier" or not hasattr(self.estimator, "predict_proba"):
            return None
        self.check_input(rows)
        return np.asarray(self._call("predict_proba", rows))

    def _call(self, method: str, rows: np.ndarray) -> Any:
        if self.feature_names is None:
            return getattr(self.estimator, method)(rows)
        # Fitted on a DataFrame but served plain arrays in the same column order: scikit-learn
        # warns on every call, which would flood logs (and fail tests run with warnings as errors).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="rows does not have valid feature names")
            return getattr(self.estimator, method)(rows)


def load_model(
    *,
    uri: str,
    format: str = "skops",
    sha256: str | None = None,
    allow_unsafe_pickle: bool = False,
    name: str = "model",
    cache_dir: Path | None = None,
) -> LoadedModel:
    def fail(cause: str) -> ModelLoadError:
        return ModelLoadError(f"cannot load model {name!r} from {uri!r}: {cause}")

    if format not in FORMATS:
        raise fail(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if format in ("joblib", "pickle") and not allow_unsafe_pickle:
        raise fail(
            f"the {format} format can run arbitrary code when loaded, so it is refused; "
            "save the model with skops (skops.io.dump), or set allowUnsafePickle: true "
            "if you trust whoever wrote the file"
        )
    try:
        path = fetch.fetch_to_path(uri, cache_dir=cache_dir)
    except fetch.FetchError as e:
        raise fail(str(e)) from e
    digest = file_sha256(path)
    if sha256 is not None:
        pin = sha256.strip().lower()
        if not _SHA256.match(pin):
            raise fail(f"the sha256 pin {sha256!r} is not 64 hex digits; fix the pin")
        if pin != digest:
            raise fail(
                f"sha256 mismatch: the file has {digest}, the pin is {pin}; the artifact changed "
                "or the pin is stale: publish the right file or update the pin"
            )
    estimator = _deserialise(path, format=format, fail=fail)
    return describe(estimator, name=name, uri=uri, format=format, digest=digest, fail=fail)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _deserialise(path: Path, *, format: str, fail: _Fail) -> Any:
    if format == "onnx":
        # onnxruntime is an optional extra, imported only for ONNX models.
        from modelrollout.models import onnx_model  # noqa: PLC0415

        try:
            return onnx_model.OnnxEstimator(path)
        except onnx_model.OnnxUnavailableError as e:
            raise fail(str(e)) from e
        except Exception as e:
            raise fail(f"not a valid ONNX model ({type(e).__name__}: {e})") from e
    if format == "skops":
        try:
            found = skops.io.get_untrusted_types(file=path)
        except Exception as e:
            raise fail(
                f"not a valid skops file ({type(e).__name__}: {e}); save it with skops.io.dump, "
                "or set the format to match the file"
            ) from e
        refused = trust.untrusted(found)
        if refused:
            raise fail(
                f"the file contains types outside the trusted list: {', '.join(refused)}; "
                "these could run code on load: re-save with plain scikit-learn estimators, "
                "or ask for the types to be vetted and added to modelrollout.models.trust"
            )
        # skops re-audits the tree against the vetted list while loading; the file's own list of
        # what it needs is only ever used to name what was refused.
        vetted = sorted(trust.allowed())
        loader: Any = lambda: skops.io.load(path, trusted=vetted)  # noqa: E731
    else:
        loader = lambda: joblib.load(path)  # noqa: E731 - joblib also reads plain pickles
    try:
        return loader()
    except Exception as e:
        raise fail(f"the {format} file could not be read ({type(e).__name__}: {e})") from e


def describe(
    estimator: Any,
    *,
    name: str,
    uri: str,
    format: str,
    digest: str,
    fail: _Fail,
) -> LoadedModel:
    """Wrap a deserialised estimator, working out what kind of model it is."""
    if not hasattr(estimator, "predict"):
        raise fail(f"the file holds a {type(estimator).__name__}, which has no predict method")
    classes = getattr(estimator, "classes_", None)
    kind = _kind(estimator)
    if kind is None:
        raise fail(
            f"the file holds a {type(estimator).__name__}, which is neither a classifier nor a "
            "regressor; only classifiers and regressors can be served and validated"
        )
    n_features = getattr(estimator, "n_features_in_", None)
    names = getattr(estimator, "feature_names_in_", None)
    return LoadedModel(
        name=name,
        uri=uri,
        format=format,
        estimator=estimator,
        kind=kind,
        classes=None if classes is None else np.asarray(classes).tolist(),
        n_features_in=None if n_features is None else int(n_features),
        feature_names=None if names is None else [str(n) for n in names],
        digest=digest,
    )


def _kind(estimator: Any) -> Kind | None:
    if isinstance(estimator, sklearn.base.BaseEstimator):
        if sklearn.base.is_classifier(estimator):
            return "classifier"
        return "regressor" if sklearn.base.is_regressor(estimator) else None
    # Not scikit-learn (the ONNX adapter, a foreign wrapper): go by the conventional attributes.
    declared = getattr(estimator, "_estimator_type", None)
    if declared is None:
        return "classifier" if getattr(estimator, "classes_", None) is not None else "regressor"
    if declared in ("classifier", "regressor"):
        return "classifier" if declared == "classifier" else "regressor"
    return None
