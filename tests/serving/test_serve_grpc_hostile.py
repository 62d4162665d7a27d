"""Malformed gRPC inference calls, built with tritonclient's own messages and stub and sent to a
real server process: each gets one clean status (INVALID_ARGUMENT and the like) naming what was
wrong, never INTERNAL or a crash, and none counts as a 5xx."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from tests.serving import server as srv
from tests.serving.conftest import IRIS_ARGS

MAX_MESSAGE = 8192
SETOSA = np.asarray([[5.1, 3.5, 1.4, 0.2]])
Tensor = pb.ModelInferRequest.InferInputTensor


def raw(array: np.ndarray, dtype: str = "<f8") -> bytes:
    return np.asarray(array, dtype=dtype).tobytes()


def strings(*values: bytes) -> bytes:
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


def call(
    *inputs: Tensor, contents: list[bytes] | None = None, model: str = "iris", **fields: object
) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, inputs=list(inputs), **fields)
    request.raw_input_contents.extend(contents or [])
    return request


def fp64(shape: tuple[int, ...] = (1, 4), datatype: str = "FP64", **kw: object) -> Tensor:
    return Tensor(name="x", datatype=datatype, shape=list(shape), **kw)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    request: pb.ModelInferRequest
    status: grpc.StatusCode
    says: str


INVALID = grpc.StatusCode.INVALID_ARGUMENT
CASES = [
    Case("no-inputs", call(), INVALID, "'inputs' must be a non-empty list"),
    Case("raw-wrong-byte-length", call(fp64(), contents=[raw(SETOSA)[:24]]), INVALID,
         r"input 'x': the binary data of shape \[1, 4\]: holds 24 bytes, but 4 FP64 values take 32"),
    Case("raw-fp32-bytes-declared-fp64", call(fp64(), contents=[raw(SETOSA, "<f4")]), INVALID,
         "holds 16 bytes, but 4 FP64 values take 32"),
    Case("raw-entries-fewer-than-inputs",
         call(fp64((1,)), fp64((1,)), contents=[raw([1.0])]), INVALID,
         "raw_input_contents holds 1 entries but the request has 2 inputs"),
    Case("no-data-at-all", call(fp64()), INVALID,
         "input 'x': no data; send it in raw_input_contents or in contents.fp64_contents"),
    Case("contents-and-raw", call(fp64(contents=pb.InferTensorContents(fp64_contents=[1.0])),
                                  contents=[raw(SETOSA)]), INVALID,
         "has both contents and raw_input_contents"),
    Case("contents-in-the-wrong-field",
         call(fp64(contents=pb.InferTensorContents(int64_contents=[5, 3, 1, 0]))), INVALID,
         "datatype FP64 takes its values in contents.fp64_contents, not contents.int64_contents"),
    Case("contents-fewer-than-the-shape",
         call(fp64(contents=pb.InferTensorContents(fp64_contents=[5.1, 3.5]))), INVALID,
         r"'data' holds 2 values but shape \[1, 4\] needs 4"),
    Case("contents-nan",
         call(fp64(contents=pb.InferTensorContents(fp64_contents=[5.1, float("nan"), 1, 0]))),
         INVALID, "the data holds NaN or infinity"),
    Case("raw-infinity", call(fp64(), contents=[raw([[np.inf, 1, 1, 1]])]), INVALID,
         "the data holds NaN or infinity"),
    Case("datatype-unsupported", call(fp64(datatype="FP16"), contents=[b"\0" * 8]), INVALID,
         "datatype 'FP16' is not supported"),
    Case("datatype-empty", call(fp64(datatype=""), contents=[raw(SETOSA)]), INVALID,
         "datatype '' is not supported"),
    Case("shape-negative", call(fp64((-1, 4)), contents=[raw(SETOSA)]), INVALID,
         "'shape' must be a list of non-negative integers"),
    Case("shape-three-dimensions", call(fp64((1, 2, 2)), contents=[raw(SETOSA)]), INVALID,
         "has 3 dimensions"),
    Case("zero-rows", call(fp64((0, 4)), contents=[b""]), INVALID, r"shape \[0, 4\] holds no values"),
    Case("shape-unlike-the-model", call(fp64((2, 2)), contents=[raw(SETOSA)]), INVALID,
         r"model 'iris' takes 4 features per row; got 2 \(shape \[2, 2\]\)"),
    Case("bytes-length-past-the-end",
         call(fp64((1,), "BYTES"), contents=[(50).to_bytes(4, "little") + b"ab"]), INVALID,
         "element 0 declares 50 bytes but only 2 follow"),
    Case("bytes-too-few-elements", call(fp64((4,), "BYTES"), contents=[strings(b"1", b"2")]),
         INVALID, "holds 2 BYTES elements, but its shape declares 4"),
    Case("bytes-not-utf8",
         call(fp64((1,), "BYTES", contents=pb.InferTensorContents(bytes_contents=[b"\xff"]))),
         INVALID, "an element is not UTF-8 text"),
    Case("bytes-the-model-cannot-read",
         call(fp64((4,), "BYTES"), contents=[strings(b"5.1", b"3.5", b"1.4", b"x")]), INVALID,
         "model 'iris' rejected the input"),
    Case("unknown-output", call(fp64(), contents=[raw(SETOSA)],
                                outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(
                                    name="embedding")]), INVALID,
         "output 'embedding' is not available from model 'iris'; choose from predict, predict_proba"),
    Case("request-id-with-spaces", call(fp64(), contents=[raw(SETOSA)], id="a b"), INVALID,
         "the request's 'id' is 'a b'"),
    Case("unknown-model", call(fp64(), contents=[raw(SETOSA)], model="mnist"),
         grpc.StatusCode.NOT_FOUND, "model 'mnist' is not served here"),
    Case("unknown-version", call(fp64(), contents=[raw(SETOSA)], model_version="7"),
         grpc.StatusCode.NOT_FOUND, "model 'iris' has no version '7' here"),
    Case("message-over-the-limit",
         call(fp64((1, MAX_MESSAGE)), contents=[b"\0" * 8 * MAX_MESSAGE]),
         grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max"),
]  # fmt: skip


@pytest.fixture(scope="module")
def stub(model_dir: Path) -> Iterator[tuple[service_pb2_grpc.GRPCInferenceServiceStub, srv.Server]]:
    grpc_port = srv.free_port()
    args = ["--model-uri", f"file://{model_dir}/iris.skops", *IRIS_ARGS,
            "--grpc-port", str(grpc_port), "--max-body-bytes", str(MAX_MESSAGE)]  # fmt: skip
    with (
        srv.running(model_dir, args) as server,
        grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
    ):
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel), server


def test_the_grpc_corpus_is_distinct() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({c.request.SerializeToString() for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_malformed_grpc_call_gets_one_clean_status_naming_the_problem(
    stub: tuple[service_pb2_grpc.GRPCInferenceServiceStub, srv.Server], case: Case
) -> None:
    client, server = stub
    with pytest.raises(grpc.RpcError) as refused:
        client.ModelInfer(case.request, timeout=10)
    error: grpc.Call = refused.value  # type: ignore[assignment]
    assert error.code() == case.status, error.details()
    assert re.search(case.says, error.details() or ""), error.details()
    assert len(error.details() or "") < 600
    assert server.proc.poll() is None, "the server died"
    good = client.ModelInfer(call(fp64(), contents=[raw(SETOSA)]), timeout=10)
    assert np.frombuffer(good.raw_output_contents[0], dtype="<i8").tolist() == [0]


def test_metadata_of_an_unknown_model_is_not_found(
    stub: tuple[service_pb2_grpc.GRPCInferenceServiceStub, srv.Server],
) -> None:
    client, _ = stub
    for rpc, request in [
        (client.ModelMetadata, pb.ModelMetadataRequest(name="mnist")),
        (client.ModelReady, pb.ModelReadyRequest(name="iris", version="9")),
    ]:
        with pytest.raises(grpc.RpcError) as refused:
            rpc(request, timeout=10)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_after_the_grpc_corpus_no_call_counted_as_a_5xx_nor_logged_a_traceback(
    stub: tuple[service_pb2_grpc.GRPCInferenceServiceStub, srv.Server],
) -> None:
    client, server = stub
    for case in CASES:
        with pytest.raises(grpc.RpcError):
            client.ModelInfer(case.request, timeout=10)
    codes = {
        re.search(r'code="(\d+)"', key).group(1)  # type: ignore[union-attr]
        for key in server.metrics()
        if key.startswith("model_requests_total")
    }
    assert not [c for c in codes if c.startswith("5")], codes
    assert {"200", "400", "404"} <= codes
    assert "Traceback" not in server.log_text()
