"""Metadata the server reports: about itself (`GET /v2`) and about its model (`GET /v2/models/<name>`)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from modelrollout import __version__
from modelrollout.models import loading
from modelrollout.serving import config, protocol

log = logging.getLogger("modelrollout.serving")
SERVER = {"name": "model-rollout", "version": __version__, "extensions": ["feedback"]}


def model_metadata(
    model: loading.LoadedModel, *, settings: config.ServeConfig, label_type: str
) -> dict[str, Any]:
    outputs = [{"name": "predict", "datatype": label_type, "shape": [-1]}]
    if "predict_proba" in protocol.available_outputs(model):
        width = len(model.classes) if model.classes is not None else -1
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, width]})
    features = model.n_features_in if model.n_features_in is not None else -1
    return {
        "name": settings.model_name,
        "versions": [settings.model_version],
        "platform": "onnxruntime" if model.format == "onnx" else "sklearn",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, features]}],
        "outputs": outputs,
        "parameters": {
            "kind": model.kind,
            "classes": model.classes,
            "feature_names": model.feature_names,
            "format": model.format,
            "digest": model.digest,
            "track": settings.track,
        },
    }


def warm_up(model: loading.LoadedModel) -> str:
    """Predict one row of zeros: the first call's one-off costs are not paid by a user, and the
    datatype of the predictions is known for the metadata (ONNX models carry no class list)."""
    if model.classes is not None:
        fallback = protocol.datatype_of(np.asarray(model.classes))
    else:
        fallback = "FP64" if model.kind == "regressor" else "BYTES"
    if model.n_features_in is None:
        return fallback
    try:
        return protocol.datatype_of(model.predict(np.zeros((1, model.n_features_in))))
    except Exception:  # a model that needs other inputs still serves; metadata guesses
        log.warning("warm-up prediction on zeros failed; metadata reports %s", fallback)
        return fallback
