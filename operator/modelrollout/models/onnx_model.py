"""An ONNX model behind the scikit-learn predict/predict_proba surface, through onnxruntime.

Follows the output layout skl2onnx writes: the first output is the label (or the value, for a
regressor), the second, when present, the class probabilities (a tensor or a list of maps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class OnnxUnavailableError(Exception):
    """onnxruntime is not installed."""


class OnnxEstimator:
    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime  # noqa: PLC0415 - the optional onnx extra
        except ImportError as e:
            raise OnnxUnavailableError(
                "the onnx format needs onnxruntime; install model-rollout[onnx]"
            ) from e
        self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"expected one input tensor, found {len(inputs)}")
        self._input = inputs[0].name
        self._input_type = np.float64 if "double" in inputs[0].type else np.float32
        width = inputs[0].shape[-1] if inputs[0].shape else None
        self.n_features_in_ = width if isinstance(width, int) else None
        self._outputs = [o.name for o in self._session.get_outputs()]
        # A second output means probabilities, which only classifiers have.
        self._estimator_type = "classifier" if len(self._outputs) > 1 else "regressor"
        self.classes_: list[Any] | None = None
        if self._estimator_type == "classifier":
            self.classes_ = self._classes_from_metadata()

    def predict(self, rows: np.ndarray) -> np.ndarray:
        out = self._run(rows, self._outputs[:1])[0]
        return np.asarray(out).reshape(len(rows), -1).squeeze(axis=1) if np.ndim(out) > 1 else out

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        if len(self._outputs) < 2:
            raise AttributeError("this ONNX model has no probability output")
        proba = self._run(rows, self._outputs[1:2])[0]
        if isinstance(proba, list):  # ZipMap: one {class: probability} per row
            keys = list(proba[0]) if proba else []
            return np.array([[row[k] for k in keys] for row in proba], dtype=np.float64)
        return np.asarray(proba)

    def _run(self, rows: np.ndarray, names: list[str]) -> list[Any]:
        result: list[Any] = self._session.run(names, {self._input: rows.astype(self._input_type)})
        return result

    def _classes_from_metadata(self) -> list[Any] | None:
        # skl2onnx stores no class list in metadata, but a ZipMap output's keys are the classes;
        # without one the labels are whatever the label output holds, discovered at predict time.
        meta = self._session.get_modelmeta().custom_metadata_map
        raw = meta.get("classes")
        return raw.split(",") if raw else None
