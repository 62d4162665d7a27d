"""A classifier that fails on purpose, pickled by a test and unpickled by the server under test."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class FaultyClassifier(ClassifierMixin, BaseEstimator):
    """Predicts class 0, except that a first feature of 13 raises an error no caller expects."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> FaultyClassifier:
        self.classes_ = np.unique(y)
        self.n_features_in_ = x.shape[1]
        return self

    def predict(self, x: np.ndarray) -> Any:
        if (x[:, 0] == 13).any():
            raise RuntimeError("unlucky row")
        return np.zeros(len(x), dtype=np.int64)
