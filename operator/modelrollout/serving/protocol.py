"""Open Inference Protocol v2 tensors: decode an infer request into rows, encode the outputs.

Pure functions of bytes and arrays; every refusal is a `RequestError` carrying the HTTP status and
a message that says what was wrong with which input.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import numpy as np
import orjson

from modelrollout.models import loading

NUMERIC = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64}
DATATYPES = (*NUMERIC, "BYTES")
OUTPUTS = ("predict", "predict_proba")
# Rows of features; [rows] for one feature. Anything deeper is not a tabular batch.
MAX_DIMS = 2
# A request id is echoed in a response header and keys the feedback store: a short token of plain
# characters cannot splice headers (CR/LF), fail to encode (non-ASCII) or bloat either.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_RULE = "1 to 128 characters, each a letter, digit, '.', '_', ':' or '-'"
# How much of a client's string an error message repeats: enough to recognise it, while a 60 KiB
# path or tensor name does not come back as a 60 KiB error.
SHOWN_CHARS = 64
# The binary tensor extension is not implemented: such a body would be misread as JSON.
JSON_MEDIA = "application/json"


class RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class InferRequest:
    id: str | None
    rows: np.ndarray
    outputs: tuple[str, ...]


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RequestError(400, f"the body is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise RequestError(400, f"the body must be a JSON object, not {type(doc).__name__}")
    return doc


def shown(value: object) -> str:
    """`value` as an error message quotes it: its repr, cut to SHOWN_CHARS characters."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def json_body(content_type: str | None) -> None:
    """A 415 unless the request says its body is JSON, or says nothing."""
    if not content_type or content_type == JSON_MEDIA:  # the common case, without parsing
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_MEDIA or (media.startswith("application/") and media.endswith("+json")):
        return
    raise RequestError(
        415,
        f"the content-type header is {shown(content_type)}; this server takes JSON bodies only "
        f"(no binary tensor extension): send content-type: {JSON_MEDIA}",
    )


def request_id(value: str, *, where: str) -> str:
    """`value` if it is a usable request id, else a 400 naming `where` it came from and the rule."""
    if REQUEST_ID.fullmatch(value) is None:
        cut = value if len(value) <= 40 else value[:40] + "..."
        raise RequestError(
            400,
            f"{where} is {cut!r} ({len(value)} characters); a request id must be {REQUEST_ID_RULE}",
        )
    return value


def decode_infer(body: bytes, *, model: loading.LoadedModel) -> InferRequest:
    doc = parse_json(body)
    given = doc.get("id")
    if given is not None and not isinstance(given, str):
        raise RequestError(400, "'id' must be a string")
    if given is not None:
        request_id(given, where="'id' in the body")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, "'inputs' must be a non-empty list of tensors")
    tensors = [_tensor(t, i) for i, t in enumerate(inputs)]
    rows = tensors[0][1] if len(tensors) == 1 else _columns(tensors, model)
    if rows.ndim == 1 and model.n_features_in not in (None, 1):
        if rows.shape[0] != model.n_features_in:
            raise RequestError(
                400,
                f"input shape {list(rows.shape)} does not fit model {model.name!r}, which takes "
                f"[rows, {model.n_features_in}]",
            )
        rows = rows.reshape(1, -1)
    elif rows.ndim == 1:
        rows = rows.reshape(-1, 1)
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise RequestError(
            400, f"input shape {list(rows.shape)} must be [rows, features] with at least one row"
        )
    return InferRequest(id=given, rows=rows, outputs=_outputs(doc.get("outputs"), model))


def _tensor(spec: Any, index: int) -> tuple[str, np.ndarray]:
    if not isinstance(spec, dict):
        raise RequestError(
            400, f"inputs[{index}] must be an object with name, shape, datatype, data"
        )
    name = spec.get("name", f"input-{index}")
    if not isinstance(name, str):
        # Names pick the column of each feature when there are several inputs.
        raise RequestError(400, f"inputs[{index}]: 'name' must be a string, not {shown(name)}")
    where = f"input {shown(name)}"
    shape, datatype, data = spec.get("shape"), spec.get("datatype"), spec.get("data")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise RequestError(400, f"{where}: 'shape' must be a list of non-negative integers")
    if len(shape) > MAX_DIMS:
        # Checked before numpy sees it: past 64 dimensions numpy raises, which was a 500.
        raise RequestError(
            400,
            f"{where}: shape {shape[:8]}{'...' if len(shape) > 8 else ''} has {len(shape)} "
            "dimensions; send [rows, features], or [rows] for one feature",
        )
    if datatype not in DATATYPES:
        raise RequestError(
            400,
            f"{where}: datatype {shown(datatype)} is not supported; use one of "
            f"{', '.join(DATATYPES)}",
        )
    if not isinstance(data, list):
        raise RequestError(400, f"{where}: 'data' must be a list")
    try:
        raw = np.asarray(data)
    except ValueError as e:
        raise RequestError(400, f"{where}: 'data' is ragged ({e})") from e
    expected = math.prod(shape)
    if raw.size != expected:
        raise RequestError(
            400, f"{where}: 'data' holds {raw.size} values but shape {shape} needs {expected}"
        )
    if expected == 0:
        raise RequestError(400, f"{where}: shape {shape} holds no values; send at least one row")
    if raw.ndim > 1 and list(raw.shape) != shape:
        # Flat data is laid out by the shape; nested data that disagrees with it is a mistake
        # that a reshape would silently turn into other rows.
        raise RequestError(
            400,
            f"{where}: 'data' is nested as {list(raw.shape)} but 'shape' is {shape}; send it "
            "flat, or nested exactly as the shape",
        )
    if datatype == "BYTES":
        if raw.size and raw.dtype.kind != "U":
            raise RequestError(400, f"{where}: BYTES data must be strings")
        return name, raw.astype(object).reshape(shape)
    return name, _numeric(raw, datatype, where).reshape(shape)


def _numeric(raw: np.ndarray, datatype: str, where: str) -> np.ndarray:
    kind = raw.dtype.kind
    integral = datatype.startswith("INT")
    if (
        integral
        and kind == "f"
        and raw.size
        and np.isfinite(raw).all()
        and (raw == raw.round()).all()
    ):
        # Whole numbers that came as floats: past 2**64 JSON integers do, or the client wrote 1.0.
        raise RequestError(
            400,
            f"{where}: datatype {datatype} but 'data' holds a number written as a float or too "
            f"large for {datatype}; send integers within its range, or use FP64",
        )
    if raw.size and (kind not in "iuf" or (integral and kind == "f")):
        found = {"b": "booleans", "U": "strings", "f": "fractional numbers"}.get(
            kind, "non-numbers"
        )
        raise RequestError(400, f"{where}: datatype {datatype} but 'data' holds {found}")
    target = NUMERIC[datatype]
    if integral and raw.size:
        info = np.iinfo(np.int32 if datatype == "INT32" else np.int64)
        if raw.min() < info.min or raw.max() > info.max:
            raise RequestError(400, f"{where}: a value is out of range for {datatype}")
    if integral:
        return raw.astype(target, copy=False)
    if datatype == "FP32":
        with np.errstate(over="ignore"):  # an overflow is reported below, to the client
            values = raw.astype(target, copy=False)
    else:  # JSON numbers are float64 already: nothing to overflow, and errstate costs a µs
        values = raw.astype(target, copy=False)
    if not np.isfinite(values).all():
        # The model would fail on inf or NaN with a 500 that hides whose fault it was.
        if np.isfinite(raw).all():
            limit = float(np.finfo(values.dtype).max)
            raise RequestError(
                400,
                f"{where}: a value is beyond the range of {datatype} (+/-{limit:.4g}); send "
                "FP64 or scale the feature",
            )
        raise RequestError(400, f"{where}: 'data' holds NaN or infinity; send finite numbers")
    return values


def _columns(tensors: list[tuple[str, np.ndarray]], model: loading.LoadedModel) -> np.ndarray:
    """Several inputs are one column each (a feature per input), in feature-name order if named."""
    by_name = dict(tensors)
    if model.feature_names and set(by_name) >= set(model.feature_names):
        tensors = [(n, by_name[n]) for n in model.feature_names]
    lengths = {len(t) for _, t in tensors if t.ndim >= 1}
    if any(t.ndim != 1 and t.shape[1:] != (1,) for _, t in tensors) or len(lengths) != 1:
        shapes = {n: list(t.shape) for n, t in tensors}
        raise RequestError(
            400,
            f"several inputs must each be one column [rows] or [rows, 1] of equal length; got {shapes}",
        )
    return np.column_stack([t.reshape(-1) for _, t in tensors])


def _outputs(spec: Any, model: loading.LoadedModel) -> tuple[str, ...]:
    if spec is None:
        return ("predict",)
    if not isinstance(spec, list) or not all(isinstance(o, dict) for o in spec):
        raise RequestError(400, "'outputs' must be a list of objects with a 'name'")
    names: tuple[str, ...] = tuple(o.get("name") for o in spec)
    available = available_outputs(model)
    for name in names:
        if name not in available:
            raise RequestError(
                400,
                f"output {shown(name)} is not available from model {model.name!r}; "
                f"choose from {', '.join(available)}",
            )
    return names


def available_outputs(model: loading.LoadedModel) -> tuple[str, ...]:
    has_proba = model.kind == "classifier" and hasattr(model.estimator, "predict_proba")
    return OUTPUTS if has_proba else OUTPUTS[:1]


def datatype_of(array: np.ndarray) -> str:
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "f":
        return "FP32" if size == 4 else "FP64"
    if kind in "iu":
        return "INT32" if size <= 4 else "INT64"
    if kind == "b":
        return "BOOL"
    return "BYTES"


def tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    """An output tensor, data flattened row-major; numeric data goes to orjson as numpy."""
    flat = np.ascontiguousarray(array).reshape(-1)
    datatype = datatype_of(array)
    data: Any = [str(v) for v in flat.tolist()] if datatype == "BYTES" else flat
    if flat.dtype.kind == "u":
        data = flat.astype(np.int64)
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def dumps(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
