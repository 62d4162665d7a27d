"""Open Inference Protocol v2 tensors: decode an infer request into rows, encode the outputs.

JSON bodies, and Triton's binary tensor extension (a JSON header of `Inference-Header-Content-Length`
bytes, then the raw data of the inputs that declare a `binary_data_size`). Pure functions of bytes
and arrays; every refusal is a `RequestError` carrying the HTTP status and a message that says what
was wrong with which input.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import numpy as np
import orjson

from modelrollout.models import loading
from modelrollout.serving import rawdata

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
JSON_MEDIA = "application/json"
# The binary tensor extension's body: a JSON header, then raw tensor bytes.
BINARY_MEDIA = "application/octet-stream"
HEADER_LENGTH = "inference-header-content-length"


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
    binary_outputs: frozenset[str] = frozenset()  # sent back as raw bytes after a JSON header


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


def json_body(content_type: str | None, *, binary: bool = False) -> None:
    """A 415 unless the request says its body is JSON (or, with the binary extension's header,
    octet-stream), or says nothing."""
    if not content_type or content_type == JSON_MEDIA:  # the common case, without parsing
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_MEDIA or (media.startswith("application/") and media.endswith("+json")):
        return
    if binary and media == BINARY_MEDIA:
        return
    raise RequestError(
        415,
        f"the content-type header is {shown(content_type)}; this server takes JSON bodies, or "
        "a JSON header and binary tensors with an Inference-Header-Content-Length header: send "
        f"content-type: {JSON_MEDIA}",
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


class _Blob:
    """The binary part of a request body, handed out to the inputs in order."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def take(self, size: int, where: str) -> bytes:
        if self.offset + size > len(self.data):
            raise RequestError(
                400,
                f"{where}: binary_data_size is {size} but only {len(self.data) - self.offset} "
                "bytes of binary data are left after the JSON header and the inputs before it",
            )
        self.offset += size
        return self.data[self.offset - size : self.offset]


def _split(body: bytes, header_length: str) -> tuple[dict[str, Any], _Blob]:
    """The JSON header and the binary data of a binary-extension body."""
    if not header_length.strip().isdigit():
        raise RequestError(
            400,
            f"the Inference-Header-Content-Length header is {shown(header_length)}; it must be "
            "the byte length of the JSON header at the start of the body",
        )
    length = int(header_length)
    if length > len(body) or length == 0:
        raise RequestError(
            400,
            f"the Inference-Header-Content-Length header is {length}, but the body holds "
            f"{len(body)} bytes; it must be the byte length of the JSON header at its start",
        )
    return parse_json(body[:length]), _Blob(body[length:])


def decode_infer(
    body: bytes, *, model: loading.LoadedModel, header_length: str | None = None
) -> InferRequest:
    """The rows and outputs of a JSON body, or of a binary-extension one given its header."""
    if header_length is None:
        doc, blob = parse_json(body), None
    else:
        doc, blob = _split(body, header_length)
    given = doc.get("id")
    if given is not None and not isinstance(given, str):
        raise RequestError(400, "'id' must be a string")
    if given is not None:
        request_id(given, where="'id' in the body")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, "'inputs' must be a non-empty list of tensors")
    tensors = [_tensor(t, i, blob=blob) for i, t in enumerate(inputs)]
    if blob is not None and blob.offset != len(blob.data):
        raise RequestError(
            400,
            f"the body holds {len(blob.data) - blob.offset} bytes after the binary data of the "
            "last input; the inputs' binary_data_size must add up to the bytes after the header",
        )
    names, binary = _outputs(doc.get("outputs"), model, doc.get("parameters"))
    return InferRequest(
        id=given, rows=rows_of(tensors, model), outputs=names, binary_outputs=binary
    )


def rows_of(tensors: list[tuple[str, np.ndarray]], model: loading.LoadedModel) -> np.ndarray:
    """The [rows, features] batch that the input tensors make together."""
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
    return rows


def _tensor(spec: Any, index: int, *, blob: _Blob | None) -> tuple[str, np.ndarray]:
    if not isinstance(spec, dict):
        raise RequestError(
            400, f"inputs[{index}] must be an object with name, shape, datatype, data"
        )
    name = spec.get("name", f"input-{index}")
    if not isinstance(name, str):
        # Names pick the column of each feature when there are several inputs.
        raise RequestError(400, f"inputs[{index}]: 'name' must be a string, not {shown(name)}")
    where = f"input {shown(name)}"
    shape, datatype = check_header(shape=spec.get("shape"), datatype=spec.get("datatype"),
                                   where=where)  # fmt: skip
    data = spec.get("data")
    size = _binary_size(spec, where)
    if size is not None:
        if "data" in spec:
            raise RequestError(
                400, f"{where}: has both 'data' and a binary_data_size parameter; send one"
            )
        if blob is None:
            raise RequestError(
                400,
                f"{where}: declares binary_data_size but the request has no "
                "Inference-Header-Content-Length header saying where the JSON header ends",
            )
        return name, from_bytes(blob.take(size, where), datatype=datatype, shape=shape,
                                where=where)  # fmt: skip
    if not isinstance(data, list):
        raise RequestError(
            400, f"{where}: 'data' must be a list (or the data binary, with binary_data_size)"
        )
    try:
        raw = np.asarray(data)
    except ValueError as e:
        raise RequestError(400, f"{where}: 'data' is ragged ({e})") from e
    _count(raw.size, shape, where)
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


def _binary_size(spec: dict[str, Any], where: str) -> int | None:
    params = spec.get("parameters")
    if params is None:
        return None
    if not isinstance(params, dict):
        raise RequestError(400, f"{where}: 'parameters' must be an object")
    size = params.get("binary_data_size")
    if size is not None and (type(size) is not int or size < 0):
        raise RequestError(
            400, f"{where}: binary_data_size is {shown(size)}; it must be a whole number of bytes"
        )
    return size


def check_header(*, shape: Any, datatype: Any, where: str) -> tuple[list[int], str]:
    """`shape` and `datatype`, unless `shape` is not a short list of sizes or `datatype` not one
    this server takes: then a 400."""
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
    return shape, datatype


def _count(size: int, shape: list[int], where: str) -> None:
    expected = math.prod(shape)
    if size != expected:
        raise RequestError(
            400, f"{where}: 'data' holds {size} values but shape {shape} needs {expected}"
        )
    if expected == 0:
        raise RequestError(400, f"{where}: shape {shape} holds no values; send at least one row")


def from_bytes(raw: bytes, *, datatype: str, shape: list[int], where: str) -> np.ndarray:
    """The tensor in `raw` (binary extension or gRPC raw contents), checked as JSON data is."""
    count = math.prod(shape)
    if count == 0:
        raise RequestError(400, f"{where}: shape {shape} holds no values; send at least one row")
    try:
        if datatype == "BYTES":
            return rawdata.to_strings(raw, count=count).reshape(shape)
        values = rawdata.to_array(raw, datatype=datatype, count=count)
    except rawdata.RawDataError as e:
        raise RequestError(400, f"{where}: the binary data of shape {shape}: {e}") from e
    return _finite(values, datatype, where).reshape(shape)


def from_values(values: np.ndarray, *, datatype: str, shape: list[int], where: str) -> np.ndarray:
    """A tensor given as typed values (gRPC `contents`), checked as JSON data is."""
    _count(values.size, shape, where)
    if datatype == "BYTES":
        return values.reshape(shape)
    return _finite(values, datatype, where).reshape(shape)


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
    return _finite(values, datatype, where, raw=raw)


def _finite(
    values: np.ndarray, datatype: str, where: str, *, raw: np.ndarray | None = None
) -> np.ndarray:
    """`values` unless a float among them is NaN or infinite (or became so, from `raw`)."""
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return values
    # The model would fail on inf or NaN with a 500 that hides whose fault it was.
    if raw is not None and np.isfinite(raw).all():
        limit = float(np.finfo(values.dtype).max)
        raise RequestError(
            400,
            f"{where}: a value is beyond the range of {datatype} (+/-{limit:.4g}); send "
            "FP64 or scale the feature",
        )
    raise RequestError(400, f"{where}: the data holds NaN or infinity; send finite numbers")


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


def _outputs(
    spec: Any, model: loading.LoadedModel, params: Any
) -> tuple[tuple[str, ...], frozenset[str]]:
    """The outputs asked for, and those of them to send as binary data."""
    if params is not None and not isinstance(params, dict):
        raise RequestError(400, "'parameters' must be an object")
    every = _flag((params or {}).get("binary_data_output"), "binary_data_output")
    if spec is None:
        return ("predict",), frozenset(("predict",) if every else ())
    if not isinstance(spec, list) or not all(isinstance(o, dict) for o in spec):
        raise RequestError(400, "'outputs' must be a list of objects with a 'name'")
    names: tuple[str, ...] = tuple(o.get("name") for o in spec)
    check_outputs(names, model)
    binary = set()
    for name, o in zip(names, spec, strict=True):
        own = o.get("parameters") or {}
        if not isinstance(own, dict):
            raise RequestError(400, f"output {shown(name)}: 'parameters' must be an object")
        flag = own.get("binary_data")
        if _flag(flag, f"output {shown(name)}: binary_data") or (flag is None and every):
            binary.add(name)
    return names, frozenset(binary)


def _flag(value: Any, what: str) -> bool:
    if value is not None and not isinstance(value, bool):
        raise RequestError(400, f"{what} is {shown(value)}; it must be true or false")
    return bool(value)


def check_outputs(names: tuple[str, ...], model: loading.LoadedModel) -> None:
    available = available_outputs(model)
    for name in names:
        if name not in available:
            raise RequestError(
                400,
                f"output {shown(name)} is not available from model {model.name!r}; "
                f"choose from {', '.join(available)}",
            )


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


def binary_tensor(name: str, array: np.ndarray) -> tuple[dict[str, Any], bytes]:
    """An output tensor for the binary extension: its JSON entry, and its raw bytes."""
    datatype = datatype_of(array)
    raw = rawdata.from_array(array, datatype=datatype)
    entry = {"name": name, "datatype": datatype, "shape": list(array.shape),
             "parameters": {"binary_data_size": len(raw)}}  # fmt: skip
    return entry, raw


def dumps(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
