"""A corpus of malformed and hostile requests, sent as raw bytes to a real server process.

Each must get one clean 4xx answer with a JSON error naming what was wrong: never a 5xx, never a
second answer, never a crash (the server still answers a good request after every one).
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelrollout.serving import feedback
from tests.serving import server as srv
from tests.serving.conftest import IRIS_ARGS

MAX_BODY = 4096
INFER = "/v2/models/iris/infer"
FEEDBACK = "/v2/models/iris/feedback"
SETOSA = [5.1, 3.5, 1.4, 0.2]
RULE = "a request id must be 1 to 128 characters"


def tensor(data: object, shape: object, datatype: object = "FP64", name: object = "x") -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def infer_body(*inputs: dict, **fields: object) -> dict:
    return {"inputs": list(inputs or [tensor([SETOSA], [1, 4])]), **fields}


def request(
    method: str,
    path: str,
    body: bytes | dict | list | None = None,
    *,
    headers: bytes = b"content-type: application/json\r\n",
) -> bytes:
    """One HTTP/1.1 request that closes its connection; a dict or list body is sent as JSON."""
    payload = json.dumps(body).encode() if isinstance(body, dict | list) else body or b""
    framing = f"content-length: {len(payload)}\r\n".encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nhost: model\r\n".encode() + headers + framing
    return head + b"connection: close\r\n\r\n" + payload


def post(path: str, body: bytes | dict | list, *, headers: bytes = b"") -> bytes:
    return request("POST", path, body, headers=b"content-type: application/json\r\n" + headers)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    request: bytes
    status: int
    says: str  # a regular expression the JSON error must match
    setup: tuple[bytes, ...] = ()  # sent first, each answered with a 2xx


def binary(
    doc: dict,
    blob: bytes,
    *,
    header_length: object = None,
    media: bytes = b"application/octet-stream",
) -> bytes:
    """A request in Triton's binary tensor extension: a JSON header of `header_length` bytes
    (its real length unless given), then `blob`."""
    head = json.dumps(doc).encode()
    length = len(head) if header_length is None else header_length
    headers = (
        b"content-type: " + media + f"\r\ninference-header-content-length: {length}\r\n".encode()
    )
    return request("POST", INFER, head + blob, headers=headers)


def raw_input(size: int, shape: object = (1, 4), datatype: str = "FP64", **extra: object) -> dict:
    return {"name": "x", "shape": list(shape), "datatype": datatype,  # type: ignore[call-overload]
            "parameters": {"binary_data_size": size}, **extra}  # fmt: skip


def strings(*values: bytes) -> bytes:
    """BYTES elements as the binary extension lays them out: a 4-byte length, then the bytes."""
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


SETOSA_FP64 = np.asarray(SETOSA, dtype="<f8").tobytes()


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


CASES = [
    # The body is not the JSON object the protocol wants.
    Case("not-json", post(INFER, b"{"), 400, "the body is not valid JSON"),
    Case("empty-body", post(INFER, b""), 400, "the body is not valid JSON"),
    Case("json-array", post(INFER, []), 400, "the body must be a JSON object, not list"),
    Case("json-string", post(INFER, b'"infer"'), 400, "must be a JSON object, not str"),
    Case("json-null", post(INFER, b"null"), 400, "must be a JSON object, not NoneType"),
    Case("invalid-utf8", post(INFER, b'{"id": "\xff\xfe"}'), 400, "not valid JSON.*UTF-8"),
    Case("nan-literal", post(INFER, b'{"inputs": [{"data": [NaN]}]}'), 400, "not valid JSON"),
    Case("infinity-literal", post(INFER, b'{"inputs": [{"data": [-Infinity]}]}'), 400,
         "not valid JSON"),
    Case("number-overflowing-fp64", post(INFER, b'{"inputs": [{"data": [1e400]}]}'), 400,
         "not valid JSON"),
    Case("deep-nesting-in-data",
         post(INFER, b'{"inputs": [{"name": "x", "data": ' + deep(1500) + b"}]}"),
         400, "not valid JSON: depth limit exceeded"),
    Case("deep-nesting-of-objects", post(INFER, b'[{"":' * 515 + b"0" + b"}]" * 515), 400,
         "not valid JSON: depth limit exceeded"),
    Case("content-type-text", post(INFER, infer_body()).replace(b"application/json", b"text/plain"),
         415, "content-type header is 'text/plain'.*send content-type: application/json"),
    Case("content-type-form",
         post(INFER, infer_body()).replace(b"application/json",
                                           b"application/x-www-form-urlencoded"),
         415, "content-type header is 'application/x-www-form-urlencoded'"),
    Case("content-type-binary-without-its-header",
         post(INFER, infer_body()).replace(b"application/json", b"application/octet-stream"),
         415, "with an Inference-Header-Content-Length header"),
    # The tensors are not ones the model can take.
    Case("no-inputs", post(INFER, {"id": "a"}), 400, "'inputs' must be a non-empty list"),
    Case("inputs-not-a-list", post(INFER, {"inputs": {"x": 1}}), 400,
         "'inputs' must be a non-empty list"),
    Case("input-not-an-object", post(INFER, {"inputs": [42]}), 400,
         r"inputs\[0\] must be an object"),
    Case("input-name-not-a-string", post(INFER, infer_body(tensor([SETOSA], [1, 4], name=5))),
         400, r"inputs\[0\]: 'name' must be a string, not 5"),
    Case("input-name-huge", post(INFER, infer_body(tensor([1], [1, 1], "BOOL", "n" * 3000))),
         400, r"input 'n{20,64}\.\.\.: datatype 'BOOL' is not supported"),
    Case("shape-missing", post(INFER, {"inputs": [{"name": "x", "data": [1]}]}), 400,
         "input 'x': 'shape' must be a list of non-negative integers"),
    Case("shape-negative", post(INFER, infer_body(tensor(SETOSA, [-1, 4]))), 400,
         "'shape' must be a list of non-negative integers"),
    Case("shape-of-strings", post(INFER, infer_body(tensor(SETOSA, ["1", "4"]))), 400,
         "'shape' must be a list of non-negative integers"),
    Case("shape-of-booleans", post(INFER, infer_body(tensor(SETOSA, [True, 4]))), 400,
         "'shape' must be a list of non-negative integers"),
    Case("shape-beyond-64-bits",
         post(INFER, b'{"inputs": [{"name": "x", "shape": [' + str(2**70).encode()
              + b', 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}'),
         400, "'shape' must be a list of non-negative integers"),
    Case("shape-of-a-trillion-rows", post(INFER, infer_body(tensor(SETOSA, [10**12, 4]))), 400,
         r"'data' holds 4 values but shape \[1000000000000, 4\] needs 4000000000000"),
    Case("three-dimensions", post(INFER, infer_body(tensor(SETOSA, [1, 1, 4]))), 400,
         "has 3 dimensions; send \\[rows, features\\]"),
    Case("sixty-five-dimensions", post(INFER, infer_body(tensor(SETOSA, [1] * 64 + [4]))), 400,
         "has 65 dimensions"),
    Case("shape-and-data-disagree", post(INFER, infer_body(tensor(SETOSA, [2, 4]))), 400,
         r"'data' holds 4 values but shape \[2, 4\] needs 8"),
    Case("nested-unlike-the-shape", post(INFER, infer_body(tensor([[1, 2], [3, 4]], [1, 4]))),
         400, r"'data' is nested as \[2, 2\] but 'shape' is \[1, 4\]"),
    Case("ragged-data", post(INFER, infer_body(tensor([[1, 2, 3, 4], [1]], [2, 4]))), 400,
         "'data' is ragged"),
    Case("zero-rows", post(INFER, infer_body(tensor([], [0, 4]))), 400,
         r"shape \[0, 4\] holds no values"),
    Case("too-few-features", post(INFER, infer_body(tensor([1, 2, 3], [1, 3]))), 400,
         "takes 4 features per row; got 3"),
    Case("one-row-of-five", post(INFER, infer_body(tensor([1, 2, 3, 4, 5], [5]))), 400,
         r"input shape \[5\] does not fit model 'iris'"),
    Case("columns-of-unequal-length",
         post(INFER, infer_body(*[tensor([1.0] * n, [n], name=c) for c, n in zip("abcd", (2, 3, 2, 2), strict=True)])),
         400, "several inputs must each be one column"),
    Case("datatype-unknown", post(INFER, infer_body(tensor(SETOSA, [1, 4], "FP16"))), 400,
         "datatype 'FP16' is not supported; use one of FP32, FP64, INT32, INT64, BYTES"),
    Case("datatype-missing", post(INFER, {"inputs": [{"name": "x", "shape": [4], "data": SETOSA}]}),
         400, "datatype None is not supported"),
    Case("datatype-an-object", post(INFER, infer_body(tensor(SETOSA, [1, 4], {"t": "FP64"}))),
         400, r"datatype \{'t': 'FP64'\} is not supported"),
    Case("data-a-string", post(INFER, infer_body(tensor("5.1,3.5,1.4,0.2", [1, 4]))), 400,
         "input 'x': 'data' must be a list"),
    Case("data-of-strings", post(INFER, infer_body(tensor(["a", "b", "c", "d"], [1, 4]))), 400,
         "datatype FP64 but 'data' holds strings"),
    Case("data-of-booleans", post(INFER, infer_body(tensor([True, False, True, False], [1, 4]))),
         400, "datatype FP64 but 'data' holds booleans"),
    Case("data-of-nulls", post(INFER, infer_body(tensor([None, 1, 2, 3], [1, 4]))), 400,
         "datatype FP64 but 'data' holds non-numbers"),
    Case("data-of-objects", post(INFER, infer_body(tensor([{"a": 1}, 1, 2, 3], [1, 4]))), 400,
         "datatype FP64 but 'data' holds non-numbers"),
    Case("fp32-overflow", post(INFER, infer_body(tensor([1e39, 1, 1, 1], [1, 4], "FP32"))), 400,
         "input 'x': a value is beyond the range of FP32"),
    Case("int-fractional", post(INFER, infer_body(tensor([1.5, 2, 3, 4], [1, 4], "INT64"))), 400,
         "datatype INT64 but 'data' holds fractional numbers"),
    Case("int32-out-of-range", post(INFER, infer_body(tensor([2**40, 1, 1, 1], [1, 4], "INT32"))),
         400, "a value is out of range for INT32"),
    Case("int-beyond-64-bits",
         post(INFER, b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT64", '
              b'"data": [1, 2, 3, ' + str(2**70).encode() + b"]}]}"),
         400, "written as a float or too large for INT64"),
    Case("bytes-the-model-cannot-read",
         post(INFER, infer_body(tensor(["a", "b", "c", "d"], [1, 4], "BYTES"))), 400,
         "model 'iris' rejected the input: could not convert string to float"),
    Case("bytes-of-numbers", post(INFER, infer_body(tensor(SETOSA, [1, 4], "BYTES"))), 400,
         "BYTES data must be strings"),
    Case("output-unknown", post(INFER, infer_body(outputs=[{"name": "explain"}])), 400,
         "output 'explain' is not available from model 'iris'; choose from predict"),
    Case("outputs-as-strings", post(INFER, infer_body(outputs=["predict"])), 400,
         "'outputs' must be a list of objects"),
    # Request ids that would splice, bloat or fail to encode the response's header.
    Case("body-id-with-crlf", post(INFER, infer_body(id="a\r\nset-cookie: x=1")), 400,
         f"'id' in the body is .*; {RULE}"),
    Case("body-id-not-a-string", post(INFER, infer_body(id=7)), 400, "'id' must be a string"),
    Case("body-id-129-characters", post(INFER, infer_body(id="i" * 129)), 400,
         rf"\(129 characters\); {RULE}"),
    Case("header-id-10000-characters",
         post(INFER, infer_body(), headers=b"x-request-id: " + b"h" * 10_000 + b"\r\n"), 400,
         r"the x-request-id header is 'h{40}\.\.\.' \(10000 characters\)"),
    Case("header-id-not-ascii", post(INFER, infer_body(), headers=b"x-request-id: \xe2\x82\xac\r\n"),
         400, f"the x-request-id header is .*; {RULE}"),
    Case("header-id-with-a-space", post(INFER, infer_body(), headers=b"x-request-id: a b\r\n"),
         400, f"the x-request-id header is 'a b'.*; {RULE}"),
    # Bodies too large to read, however they are framed.
    Case("oversize-content-length", post(INFER, b"[" + b"0," * MAX_BODY + b"0]"), 413,
         f"larger than {MAX_BODY} bytes"),
    Case("very-many-rows",
         post(INFER, infer_body(tensor([SETOSA] * 400, [400, 4]))), 413,
         "send fewer rows per request"),
    Case("oversize-chunked",
         b"POST " + INFER.encode() + b" HTTP/1.1\r\nhost: model\r\ntransfer-encoding: chunked\r\n"
         b"content-type: application/json\r\n\r\n"
         + b"1000\r\n" + b" " * 4096 + b"\r\n10\r\n" + b" " * 16 + b"\r\n0\r\n\r\n",
         413, "larger than 4096 bytes"),
    # Paths and methods that reach no route, or another route than they seem to.
    Case("unknown-model", post("/v2/models/nope/infer", infer_body()), 404,
         "model 'nope' is not served here; this server serves 'iris'"),
    Case("unknown-version", post("/v2/models/iris/versions/9/infer", infer_body()), 404,
         "model 'iris' has no version '9' here; this server serves version '2'"),
    Case("empty-model-name", post("/v2/models//infer", infer_body()), 404,
         "model '' is not served here"),
    Case("dot-dot-segments", post("/v2/models/../models/iris/infer", infer_body()), 404,
         "no route '/v2/models/../models/iris/infer'"),
    Case("dot-dot-to-metrics", request("GET", "/v2/../metrics"), 404, "no route '/v2/../metrics'"),
    Case("encoded-slashes", post("/v2/models/iris%2F..%2Fnope/infer", infer_body()), 404,
         r"model 'iris%2F\.\.%2Fnope' is not served here"),
    Case("encoded-dot-dot", post("/v2/models/%2e%2e/iris/infer", infer_body()), 404,
         "no route '/v2/models/%2e%2e/iris/infer'"),
    Case("a-60-kib-path", post("/v2/models/iris/" + "a" * 60_000, infer_body()), 404,
         r"^no route '/v2/models/iris/a{40,64}\.\.\.$"),
    Case("kserve-v1-route", post("/v1/models/iris:predict", {"instances": [SETOSA]}), 404,
         "the API lives under /v2"),
    Case("internal-route-from-outside", post("/internal/feedback", {"id": "a", "truth": [0]}),
         404, "no route '/internal/feedback'"),
    Case("get-on-infer", request("GET", INFER), 405, "takes POST, not GET"),
    Case("delete-on-metrics", request("DELETE", "/metrics"), 405, "takes GET, not DELETE"),
    # Feedback that is unknown, repeated, unauthenticated-looking or malformed.
    Case("feedback-unknown-id", post(FEEDBACK, {"id": "never-made", "truth": [0]}), 404,
         "no predictions are kept for request id 'never-made'"),
    Case("feedback-repeated",
         post(FEEDBACK, {"id": "corpus-once", "truth": [0]}), 409,
         "'corpus-once' was already scored",
         setup=(post(INFER, infer_body(id="corpus-once")),
                post(FEEDBACK, {"id": "corpus-once", "truth": [0]}))),
    Case("infer-id-taken", post(INFER, infer_body(id="corpus-taken")), 409,
         "'corpus-taken' belongs to an earlier request still awaiting feedback",
         setup=(post(INFER, infer_body(id="corpus-taken")),)),
    Case("feedback-wrong-row-count",
         post(FEEDBACK, {"id": "corpus-rows", "truth": [0, 1]}), 400,
         "'corpus-rows' made 1 predictions but the feedback has 2 truth values",
         setup=(post(INFER, infer_body(id="corpus-rows")),)),
    Case("feedback-without-id", post(FEEDBACK, {"truth": [0]}), 400, "feedback needs 'id'"),
    Case("feedback-id-not-a-string", post(FEEDBACK, {"id": ["a"], "truth": [0]}), 400,
         "feedback needs 'id'"),
    Case("feedback-id-with-crlf", post(FEEDBACK, {"id": "a\r\nb", "truth": [0]}), 400,
         f"feedback 'id' is .*; {RULE}"),
    Case("feedback-without-truth", post(FEEDBACK, {"id": "x"}), 400, "feedback needs 'truth'"),
    Case("feedback-not-json", post(FEEDBACK, b"id=x&truth=0"), 400, "the body is not valid JSON"),
    Case("feedback-content-type-form",
         post(FEEDBACK, {"id": "x", "truth": [0]}).replace(
             b"application/json", b"application/x-www-form-urlencoded"),
         415, "content-type header is 'application/x-www-form-urlencoded'"),
    Case("get-on-feedback", request("GET", FEEDBACK), 405, "takes POST, not GET"),
    # Malformed HTTP: the HTTP layer answers these itself.
    Case("garbage-bytes", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400,
         "malformed HTTP request"),
    Case("unknown-method", b"BREW /v2 HTTP/1.1\r\nhost: model\r\n\r\n", 400,
         "malformed HTTP request"),
    Case("content-length-negative",
         b"POST " + INFER.encode() + b" HTTP/1.1\r\nhost: model\r\ncontent-length: -1\r\n\r\n",
         400, "malformed HTTP request"),
    Case("content-length-and-chunked",
         b"POST " + INFER.encode() + b" HTTP/1.1\r\nhost: model\r\ncontent-length: 5\r\n"
         b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
         400, "malformed HTTP request"),
    Case("nul-in-path", post("/v2/models/iris\x00/infer", infer_body()), 400,
         "malformed HTTP request"),
    Case("header-over-64-kib",
         b"GET /v2 HTTP/1.1\r\nhost: model\r\nx-pad: " + b"p" * 70_000 + b"\r\n\r\n", 431,
         "exceed 64 KiB"),
    Case("websocket-upgrade",
         b"GET /v2 HTTP/1.1\r\nhost: model\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
         400, "protocol upgrades are not supported"),
    # Triton's binary tensor extension: the header, the binary data, and what they declare.
    Case("binary-header-length-beyond-the-body",
         binary({"inputs": [raw_input(32)]}, SETOSA_FP64, header_length=5000), 400,
         "Inference-Header-Content-Length header is 5000, but the body holds \\d+ bytes"),
    Case("binary-header-length-not-a-number",
         binary({"inputs": [raw_input(32)]}, SETOSA_FP64, header_length="ten"), 400,
         "Inference-Header-Content-Length header is 'ten'"),
    Case("binary-header-length-zero",
         binary({"inputs": [raw_input(32)]}, SETOSA_FP64, header_length=0), 400,
         "Inference-Header-Content-Length header is 0"),
    Case("binary-header-cut-inside-the-json",
         binary({"inputs": [raw_input(32)]}, SETOSA_FP64, header_length=10), 400,
         "the body is not valid JSON"),
    Case("binary-data-missing",
         binary({"inputs": [raw_input(32)]}, b""), 400,
         "input 'x': binary_data_size is 32 but only 0 bytes of binary data are left"),
    Case("binary-data-shorter-than-declared",
         binary({"inputs": [raw_input(32)]}, SETOSA_FP64[:20]), 400,
         "binary_data_size is 32 but only 20 bytes"),
    Case("binary-wrong-length-for-shape-and-datatype",
         binary({"inputs": [raw_input(24)]}, SETOSA_FP64[:24]), 400,
         "input 'x': the binary data of shape \\[1, 4\\]: holds 24 bytes, but 4 FP64 values take 32"),
    Case("binary-fp32-sized-as-fp64",
         binary({"inputs": [raw_input(16, datatype="FP64")]},
                np.asarray(SETOSA, dtype="<f4").tobytes()), 400,
         "holds 16 bytes, but 4 FP64 values take 32 \\(8 bytes each\\)"),
    Case("binary-bytes-left-after-the-inputs",
         binary({"inputs": [raw_input(32)]}, SETOSA_FP64 + b"\0" * 8), 400,
         "the body holds 8 bytes after the binary data of the last input"),
    Case("binary-size-without-the-header",
         post(INFER, {"inputs": [raw_input(32)]}), 400,
         "declares binary_data_size but the request has no Inference-Header-Content-Length"),
    Case("binary-size-and-json-data",
         binary({"inputs": [raw_input(32, data=SETOSA)]}, SETOSA_FP64), 400,
         "has both 'data' and a binary_data_size parameter"),
    Case("binary-size-negative", binary({"inputs": [raw_input(-1)]}, SETOSA_FP64), 400,
         "binary_data_size is -1; it must be a whole number of bytes"),
    Case("binary-size-a-string", binary({"inputs": [raw_input("32")]}, SETOSA_FP64), 400,
         "binary_data_size is '32'"),
    Case("binary-input-parameters-not-an-object",
         binary({"inputs": [{**raw_input(32), "parameters": [32]}]}, SETOSA_FP64), 400,
         "input 'x': 'parameters' must be an object"),
    Case("binary-nan", binary({"inputs": [raw_input(32)]},
                              np.asarray([5.1, np.nan, 1.4, 0.2], dtype="<f8").tobytes()), 400,
         "input 'x': the data holds NaN or infinity"),
    Case("binary-infinity-fp32", binary({"inputs": [raw_input(16, datatype="FP32")]},
                                        np.asarray([np.inf, 1, 1, 1], dtype="<f4").tobytes()),
         400, "input 'x': the data holds NaN or infinity"),
    Case("binary-zero-rows", binary({"inputs": [raw_input(0, shape=(0, 4))]}, b""), 400,
         r"shape \[0, 4\] holds no values"),
    Case("binary-bytes-length-past-the-end",
         binary({"inputs": [raw_input(8, shape=(1,), datatype="BYTES")]},
                (100).to_bytes(4, "little") + b"abcd"), 400,
         "element 0 declares 100 bytes but only 4 follow"),
    Case("binary-bytes-cut-in-a-length",
         binary({"inputs": [raw_input(6, shape=(2,), datatype="BYTES")]},
                strings(b"a") + b"\x01"), 400,
         "ends inside the 4-byte length of element 1"),
    Case("binary-bytes-too-few-elements",
         binary({"inputs": [raw_input(5, shape=(2,), datatype="BYTES")]}, strings(b"a")), 400,
         "holds 1 BYTES elements, but its shape declares 2"),
    Case("binary-bytes-too-many-elements",
         binary({"inputs": [raw_input(10, shape=(1,), datatype="BYTES")]},
                strings(b"a", b"b")), 400,
         "holds more than the 1 BYTES elements its shape declares"),
    Case("binary-bytes-not-utf8",
         binary({"inputs": [raw_input(6, shape=(1,), datatype="BYTES")]}, strings(b"\xff\xfe")),
         400, "element 0 is not UTF-8 text"),
    Case("binary-bytes-the-model-cannot-read",
         binary({"inputs": [raw_input(26, shape=(4,), datatype="BYTES")]},
                strings(b"5.1", b"3.5", b"1.4", b"x")), 400,
         "model 'iris' rejected the input"),
    Case("binary-output-flag-not-a-boolean",
         binary({"inputs": [raw_input(32)],
                 "outputs": [{"name": "predict", "parameters": {"binary_data": "yes"}}]},
                SETOSA_FP64), 400,
         "output 'predict': binary_data is 'yes'; it must be true or false"),
    Case("binary-data-output-not-a-boolean",
         binary({"inputs": [raw_input(32)], "parameters": {"binary_data_output": 1}},
                SETOSA_FP64), 400,
         "binary_data_output is 1; it must be true or false"),
    Case("binary-request-parameters-not-an-object",
         binary({"inputs": [raw_input(32)], "parameters": "binary"}, SETOSA_FP64), 400,
         "'parameters' must be an object"),
    Case("binary-datatype-unsupported",
         binary({"inputs": [raw_input(4, datatype="FP16")]}, b"\0" * 8), 400,
         "datatype 'FP16' is not supported"),
    Case("binary-content-type-text",
         binary({"inputs": [raw_input(32)]}, SETOSA_FP64, media=b"text/plain"), 415,
         "content-type header is 'text/plain'"),
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    extra: bytes  # anything after the first answer: there must be nothing


def exchange(server: srv.Server, raw: bytes) -> Answer:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # a server that answers early and closes may reset the body it did not read
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no complete answer: {data[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    length = int(headers.get("content-length", "0"))
    return Answer(status, headers, rest[:length], rest[length:])


@pytest.fixture(scope="module")
def hostile(model_dir: Path) -> Iterator[srv.Server]:
    uri = f"file://{model_dir}/iris.skops"
    with srv.running(
        model_dir, ["--model-uri", uri, *IRIS_ARGS, "--max-body-bytes", str(MAX_BODY)]
    ) as s:
        yield s


def test_the_corpus_is_large_and_each_case_distinct() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({c.request for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_a_hostile_request_gets_one_clean_4xx_naming_the_problem(
    hostile: srv.Server, case: Case
) -> None:
    for raw in case.setup:
        assert 200 <= exchange(hostile, raw).status < 300
    answer = exchange(hostile, case.request)
    assert answer.status == case.status, answer
    assert answer.headers["content-type"] == "application/json"
    error = json.loads(answer.body)["error"]
    assert re.search(case.says, error), f"{error!r} does not match {case.says!r}"
    assert len(error) < 600, "an error must not echo what the client sent at length"
    assert answer.extra == b"", f"a second answer followed: {answer.extra[:200]!r}"
    assert "set-cookie" not in answer.headers
    assert hostile.proc.poll() is None, "the server died"
    good = exchange(hostile, post(INFER, infer_body()))
    assert (good.status, json.loads(good.body)["outputs"][0]["data"]) == (200, [0])


def test_after_the_corpus_no_request_was_counted_as_a_5xx_nor_logged_a_traceback(
    hostile: srv.Server,
) -> None:
    for case in CASES:
        exchange(hostile, case.request)
    codes = {
        re.search(r'code="(\d+)"', key).group(1): value  # type: ignore[union-attr]
        for key, value in hostile.metrics().items()
        if key.startswith("model_requests_total")
    }
    assert not [c for c in codes if c.startswith("5")], codes
    assert {"400", "404", "409", "413", "415"} <= set(codes)
    assert "Traceback" not in hostile.log_text()


def rss_bytes(server: srv.Server) -> int:
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]


def pipelined(server: srv.Server, requests: list[bytes], *, batch: int = 500) -> list[int]:
    """Send `requests` on one keep-alive connection, `batch` at a time; their statuses."""
    statuses: list[int] = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        for start in range(0, len(requests), batch):
            chunk = requests[start : start + batch]
            sock.sendall(b"".join(chunk))
            data = b""
            while data.count(b"HTTP/1.1 ") < len(chunk):
                data += sock.recv(1 << 20)
            statuses += [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    return statuses


def keep_alive_post(path: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nhost: model\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def test_a_flood_of_feedback_for_unknown_ids_keeps_nothing(hostile: srv.Server) -> None:
    flood = [keep_alive_post(FEEDBACK, {"id": f"flood-{i}", "truth": [0]}) for i in range(20_000)]
    pipelined(hostile, flood[:1000])  # the first requests' one-off allocations are not growth
    before = rss_bytes(hostile)
    statuses = pipelined(hostile, flood)
    assert statuses == [404] * len(flood)
    grown = rss_bytes(hostile) - before
    assert grown < 8 * 1024 * 1024, f"20,000 unknown ids grew the server by {grown} bytes"
    assert hostile.metrics()[srv.series("model_feedback_store_entries")] <= 200


def test_a_flood_of_distinct_request_ids_stays_within_the_store_budget(model_dir: Path) -> None:
    uri = f"file://{model_dir}/iris.skops"
    budget = 100 * feedback.approximate_bytes("many-4999", np.zeros(1, dtype=np.int64))
    args = ["--model-uri", uri, *IRIS_ARGS, "--feedback-max-bytes", str(budget)]
    with srv.running(model_dir, args) as server:
        flood = [keep_alive_post(INFER, infer_body(id=f"many-{i}")) for i in range(5_000)]
        assert pipelined(server, flood) == [200] * len(flood)
        values = server.metrics()
        kept = values[srv.series("model_feedback_store_entries")]
        assert kept == 100, "the last 100 ids are all 9 characters long"
        assert values[srv.series("model_feedback_store_bytes")] <= budget
        evicted = srv.series("model_feedback_store_evictions_total", reason="bytes")
        assert values[evicted] == len(flood) - kept
        # The newest are the ones kept, and the oldest get a 404 that says why.
        newest = server.post(FEEDBACK, json={"id": "many-4999", "truth": [0]})
        assert newest.status_code == 200
        oldest = server.post(FEEDBACK, json={"id": "many-0", "truth": [0]})
        assert oldest.status_code == 404
        assert f"{budget} bytes (--feedback-max-bytes)" in oldest.json()["error"]


def test_a_head_request_is_answered_without_a_body(hostile: srv.Server) -> None:
    with socket.create_connection(("127.0.0.1", hostile.port), timeout=10) as sock:
        sock.sendall(
            b"HEAD /v2 HTTP/1.1\r\nhost: model\r\n\r\n"
            b"GET /v2/health/live HTTP/1.1\r\nhost: model\r\nconnection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 4")
    assert rest.startswith(b"HTTP/1.1 200"), f"bytes between the two answers: {rest[:80]!r}"
