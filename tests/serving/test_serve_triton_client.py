"""Triton's own client library against a real server process: REST with the binary tensor
extension, and the Open Inference Protocol v2 over gRPC, sharing metrics and feedback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import skops.io
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.utils import InferenceServerException

from tests.serving import server as srv
from tests.serving.conftest import IRIS_ARGS

ROWS = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]])


class Both:
    def __init__(self, server: srv.Server, grpc_port: int) -> None:
        self.server = server
        self.http = thttp.InferenceServerClient(f"127.0.0.1:{server.port}")
        self.grpc = tgrpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")


@pytest.fixture(scope="module")
def both(model_dir: Path) -> Iterator[Both]:
    grpc_port = srv.free_port()
    args = ["--model-uri", f"file://{model_dir}/iris.skops", *IRIS_ARGS,
            "--grpc-port", str(grpc_port), "--max-body-bytes", "65536"]  # fmt: skip
    with srv.running(model_dir, args) as server:
        clients = Both(server, grpc_port)
        yield clients
        clients.http.close()
        clients.grpc.close()


def expected(model_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    estimator = skops.io.load(model_dir / "iris.skops", trusted=skops.io.get_untrusted_types(
        file=model_dir / "iris.skops"))  # fmt: skip
    return estimator.predict(ROWS), estimator.predict_proba(ROWS)


def http_input(rows: np.ndarray, *, binary: bool, datatype: str = "FP64") -> thttp.InferInput:
    tensor = thttp.InferInput("input-0", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=binary)
    return tensor


def grpc_input(rows: np.ndarray, datatype: str = "FP64") -> tgrpc.InferInput:
    tensor = tgrpc.InferInput("input-0", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows)
    return tensor


def test_the_http_client_sends_binary_inputs_and_reads_binary_outputs(
    both: Both, model_dir: Path
) -> None:
    labels, proba = expected(model_dir)
    # No outputs named: tritonclient asks for every output as binary (binary_data_output).
    result = both.http.infer("iris", [http_input(ROWS, binary=True)])
    assert result.get_response()["outputs"][0]["parameters"]["binary_data_size"] == 3 * 8
    np.testing.assert_array_equal(result.as_numpy("predict"), labels)
    # One output binary, one JSON, from an FP32 binary input; and the versioned route.
    result = both.http.infer(
        "iris",
        [http_input(ROWS.astype(np.float32), binary=True, datatype="FP32")],
        model_version="2",
        outputs=[thttp.InferRequestedOutput("predict_proba", binary_data=True),
                 thttp.InferRequestedOutput("predict", binary_data=False)],
        request_id="triton-http-1",
    )  # fmt: skip
    outputs = {o["name"]: o for o in result.get_response()["outputs"]}
    assert "data" in outputs["predict"]
    assert "data" not in outputs["predict_proba"]
    np.testing.assert_array_equal(result.as_numpy("predict"), labels)
    np.testing.assert_allclose(result.as_numpy("predict_proba"), proba, rtol=1e-5)
    assert result.get_response()["id"] == "triton-http-1"
    # JSON inputs and JSON outputs still work through the same client.
    result = both.http.infer(
        "iris", [http_input(ROWS, binary=False)],
        outputs=[thttp.InferRequestedOutput("predict", binary_data=False)],
    )  # fmt: skip
    np.testing.assert_array_equal(result.as_numpy("predict"), labels)


def test_the_grpc_client_reads_health_and_metadata(both: Both) -> None:
    client = both.grpc
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", model_version="2")
    assert not _ok(lambda: client.is_model_ready("other"))
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "model-rollout"
    assert "feedback" in server["extensions"]
    meta = client.get_model_metadata("iris", as_json=True)
    assert meta["versions"] == ["2"]
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": ["-1", "4"]}]
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    # The REST metadata says the same.
    assert both.http.get_model_metadata("iris")["outputs"][1]["shape"] == [-1, 3]


def _ok(call: object) -> bool:
    try:
        return bool(call())  # type: ignore[operator]
    except InferenceServerException:
        return False


def test_grpc_predictions_match_rest_and_are_scored_by_rest_feedback(
    both: Both, model_dir: Path
) -> None:
    labels, proba = expected(model_dir)
    before = both.server.metrics()
    result = both.grpc.infer(
        "iris", [grpc_input(ROWS)],
        outputs=[tgrpc.InferRequestedOutput("predict"), tgrpc.InferRequestedOutput("predict_proba")],
        request_id="grpc-feedback-1",
    )  # fmt: skip
    np.testing.assert_array_equal(result.as_numpy("predict"), labels)
    np.testing.assert_allclose(result.as_numpy("predict_proba"), proba)
    response = result.get_response()
    assert (response.id, response.model_name, response.model_version) == (
        "grpc-feedback-1", "iris", "2",
    )  # fmt: skip
    # Without a request id the server makes one, as for REST, and returns it.
    minted = both.grpc.infer("iris", [grpc_input(ROWS[:1])]).get_response().id
    assert re.fullmatch(r"[0-9a-f]{32}", minted)
    # Ground truth stays on REST: one wrong label out of three.
    truth = [int(labels[0]), int(labels[1]), (int(labels[2]) + 1) % 3]
    scored = both.server.post(
        "/v2/models/iris/feedback", json={"id": "grpc-feedback-1", "truth": truth}
    )
    assert scored.status_code == 200, scored.text
    after = both.server.metrics()

    def grew(name: str, **labels: str) -> float:
        key = srv.series(name, **labels)
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("model_requests_total", code="200") == 2
    assert grew("model_request_duration_seconds_count") == 2
    assert grew("model_feedback_total", outcome="correct") == 2
    assert grew("model_feedback_total", outcome="incorrect") == 1
    assert sum(grew("model_predictions_total", label=str(v)) for v in range(3)) == 4
    # The id was used: a second gRPC request with it is refused until its feedback is in.
    both.grpc.infer("iris", [grpc_input(ROWS[:1])], request_id="grpc-once")
    with pytest.raises(InferenceServerException) as refused:
        both.grpc.infer("iris", [grpc_input(ROWS[:1])], request_id="grpc-once")
    assert refused.value.status() == "StatusCode.ALREADY_EXISTS"
    assert "still awaiting feedback" in refused.value.message()


def test_the_grpc_path_refuses_what_rest_refuses_with_a_400s_status(both: Both) -> None:
    nan = ROWS.copy()
    nan[0, 1] = np.nan
    with pytest.raises(InferenceServerException) as refused:
        both.grpc.infer("iris", [grpc_input(nan)])
    assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert (
        refused.value.message()
        == "input 'input-0': the data holds NaN or infinity; send finite numbers"
    )
    with pytest.raises(InferenceServerException) as refused_http:
        both.http.infer("iris", [http_input(nan, binary=True)])
    assert refused_http.value.message() == refused.value.message()
    codes = both.server.metrics()
    assert codes.get(srv.series("model_requests_total", code="400"), 0) >= 2


def test_with_two_workers_rest_feedback_finds_every_grpc_prediction(model_dir: Path) -> None:
    grpc_port = srv.free_port()
    args = ["--model-uri", f"file://{model_dir}/iris.skops", *IRIS_ARGS,
            "--grpc-port", str(grpc_port), "--workers", "2"]  # fmt: skip
    with srv.running(model_dir, args) as server:
        ids = []
        # A client per call: each opens its own connection, which the kernel spreads over workers.
        for i in range(12):
            with tgrpc.InferenceServerClient(f"127.0.0.1:{grpc_port}") as client:
                client.infer("iris", [grpc_input(ROWS[:1])], request_id=f"two-{i}")
            ids.append(f"two-{i}")
        for request_id in ids:
            answer = server.post("/v2/models/iris/feedback", json={"id": request_id, "truth": [0]})
            assert answer.status_code == 200, answer.text
        assert server.metrics()[srv.series("model_feedback_total", outcome="correct")] == 12
        assert server.stop() == 0
