"""Every route of a running `model-rollout serve`, and every way a request can be wrong."""

from __future__ import annotations

import contextlib
import socket

import pytest

from tests.serving.server import Server

SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]


def tensor(data: object, shape: list[int], datatype: str = "FP64", name: str = "x") -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def test_liveness_and_readiness_answer_while_serving(iris: Server) -> None:
    assert iris.get("/v2/health/live").json() == {"live": True}
    assert iris.get("/v2/health/ready").json() == {"ready": True}
    assert iris.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert iris.get("/v2/models/iris/versions/2/ready").status_code == 200


def test_server_metadata_names_the_server(iris: Server) -> None:
    doc = iris.get("/v2").json()
    assert doc["name"] == "model-rollout"
    assert doc["version"]


def test_model_metadata_describes_inputs_outputs_and_the_artifact(iris: Server) -> None:
    doc = iris.get("/v2/models/iris").json()
    assert doc["name"] == "iris"
    assert doc["versions"] == ["2"]
    assert doc["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert [o["name"] for o in doc["outputs"]] == ["predict", "predict_proba"]
    assert doc["outputs"][1]["shape"] == [-1, 3]
    assert doc["parameters"]["kind"] == "classifier"
    assert doc["parameters"]["classes"] == [0, 1, 2]
    assert len(doc["parameters"]["digest"]) == 64
    assert iris.get("/v2/models/iris/versions/2").json() == doc


def test_infer_returns_labels_and_echoes_the_request_id(iris: Server) -> None:
    response = iris.infer([SETOSA, VIRGINICA], id="req-1")
    assert response.status_code == 200
    doc = response.json()
    assert doc["id"] == "req-1"
    assert response.headers["x-request-id"] == "req-1"
    assert doc["model_name"] == "iris"
    assert doc["model_version"] == "2"
    assert doc["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [2], "data": [0, 2]}
    ]


def test_a_request_without_an_id_gets_a_fresh_one_in_body_and_header(iris: Server) -> None:
    first, second = iris.infer([SETOSA]), iris.infer([SETOSA])
    assert first.json()["id"] == first.headers["x-request-id"]
    assert first.json()["id"] != second.json()["id"]


def test_the_x_request_id_header_is_used_when_the_body_has_no_id(iris: Server) -> None:
    response = iris.post(
        "/v2/models/iris/infer",
        json={"inputs": [tensor([SETOSA], [1, 4])]},
        headers={"x-request-id": "from-header"},
    )
    assert response.json()["id"] == "from-header"


def test_outputs_select_probabilities_which_sum_to_one_per_row(iris: Server) -> None:
    doc = iris.infer(
        [SETOSA, VIRGINICA], outputs=[{"name": "predict_proba"}, {"name": "predict"}]
    ).json()
    proba, labels = doc["outputs"]
    assert proba["name"] == "predict_proba"
    assert proba["datatype"] == "FP64"
    assert proba["shape"] == [2, 3]
    assert sum(proba["data"][:3]) == pytest.approx(1.0)
    assert proba["data"][0] > 0.9
    assert labels["data"] == [0, 2]


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_float_tensors_flat_or_nested_give_the_same_answer(iris: Server, datatype: str) -> None:
    flat = iris.post(
        "/v2/models/iris/infer",
        json={"inputs": [tensor(SETOSA + VIRGINICA, [2, 4], datatype)]},
    )
    nested = iris.post(
        "/v2/models/iris/infer", json={"inputs": [tensor([SETOSA, VIRGINICA], [2, 4], datatype)]}
    )
    assert flat.json()["outputs"][0]["data"] == nested.json()["outputs"][0]["data"] == [0, 2]


@pytest.mark.parametrize("datatype", ["INT32", "INT64"])
def test_integer_tensors_are_accepted(iris: Server, datatype: str) -> None:
    response = iris.post(
        "/v2/models/iris/infer", json={"inputs": [tensor([[7, 3, 6, 2]], [1, 4], datatype)]}
    )
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [2]


def test_bytes_tensors_of_numbers_in_text_are_accepted(iris: Server) -> None:
    response = iris.post(
        "/v2/models/iris/infer",
        json={"inputs": [tensor([["5.1", "3.5", "1.4", "0.2"]], [1, 4], "BYTES")]},
    )
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [0]


def test_a_single_row_may_be_sent_as_a_flat_vector(iris: Server) -> None:
    response = iris.post("/v2/models/iris/infer", json={"inputs": [tensor(SETOSA, [4])]})
    assert response.json()["outputs"][0]["data"] == [0]


def test_one_input_per_feature_is_stacked_into_rows(iris: Server) -> None:
    columns = [
        tensor([a, b], [2], name=f"f{i}")
        for i, (a, b) in enumerate(zip(SETOSA, VIRGINICA, strict=True))
    ]
    response = iris.post("/v2/models/iris/infer", json={"inputs": columns})
    assert response.json()["outputs"][0]["data"] == [0, 2]


def test_the_versioned_infer_route_serves_the_same_model(iris: Server) -> None:
    response = iris.post(
        "/v2/models/iris/versions/2/infer", json={"inputs": [tensor([SETOSA], [1, 4])]}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"inputs": [tensor([[1.0, 2.0, 3.0]], [1, 3])]}, 400, "takes 4 features per row; got 3"),
        ({"inputs": [tensor([1.0, 2.0, 3.0], [2, 2])]}, 400, "holds 3 values but shape [2, 2]"),
        ({"inputs": [tensor([[1, 2], [3]], [2, 2])]}, 400, "ragged"),
        ({"inputs": [tensor([[1.5, 2, 3, 4]], [1, 4], "INT64")]}, 400, "fractional numbers"),
        ({"inputs": [tensor([["a", "b", "c", "d"]], [1, 4], "FP32")]}, 400, "holds strings"),
        ({"inputs": [tensor([[1, 2, 3, 2**40]], [1, 4], "INT32")]}, 400, "out of range for INT32"),
        ({"inputs": [tensor([[1.0] * 4], [1, 4], "FP16")]}, 400, "'FP16' is not supported"),
        ({"inputs": [tensor([[1.0] * 4], [1, -4])]}, 400, "non-negative integers"),
        ({"inputs": [tensor([], [0, 4])]}, 400, "at least one row"),
        ({"inputs": [tensor([[1.0] * 4] * 2, [1, 2, 4])]}, 400, "[rows, features]"),
        ({"inputs": []}, 400, "'inputs' must be a non-empty list"),
        ({"inputs": [tensor([SETOSA], [1, 4])], "id": 7}, 400, "'id' must be a string"),
        ({"inputs": [tensor([SETOSA], [1, 4])], "outputs": [{"name": "x"}]}, 400,
         "output 'x' is not available"),
        ({"inputs": [tensor([["x", "y", "z", "w"]], [1, 4], "BYTES")]}, 400, "rejected the input"),
        ([1, 2], 400, "must be a JSON object"),
    ],
)  # fmt: skip
def test_a_bad_infer_request_gets_a_json_error_that_says_what_is_wrong(
    iris: Server, body: object, status: int, says: str
) -> None:
    response = iris.post("/v2/models/iris/infer", json=body)
    assert response.status_code == status
    assert says in response.json()["error"]


def test_malformed_json_is_a_400(iris: Server) -> None:
    response = iris.post("/v2/models/iris/infer", content=b'{"inputs": [')
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


def test_an_unknown_model_or_version_is_a_404_naming_what_is_served(iris: Server) -> None:
    for path in ("/v2/models/wine/infer", "/v2/models/wine", "/v2/models/wine/ready"):
        response = iris.post(path, json={}) if path.endswith("infer") else iris.get(path)
        assert response.status_code == 404
        assert "this server serves 'iris'" in response.json()["error"]
    response = iris.post("/v2/models/iris/versions/9/infer", json={})
    assert response.status_code == 404
    assert "no version '9'" in response.json()["error"]


def test_an_unknown_route_is_a_404_and_a_wrong_method_a_405(iris: Server) -> None:
    assert iris.get("/nope").status_code == 404
    assert iris.get("/v2/models/iris/explain").status_code == 404
    response = iris.get("/v2/models/iris/infer")
    assert response.status_code == 405
    assert "takes POST, not GET" in response.json()["error"]


def test_an_oversized_body_is_a_413_without_reading_it(iris: Server) -> None:
    rows = [SETOSA] * 400  # well over the 4096-byte limit this server was started with
    response = iris.infer(rows)
    assert response.status_code == 413
    assert "larger than 4096 bytes" in response.json()["error"]


def test_malformed_http_gets_a_400_and_the_server_keeps_serving(iris: Server) -> None:
    with socket.create_connection(("127.0.0.1", iris.port), timeout=10) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")
    assert iris.get("/v2/health/live").status_code == 200


def test_pipelined_requests_on_one_connection_are_answered_in_order(iris: Server) -> None:
    request = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n"
    last = b"GET /v2 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", iris.port), timeout=10) as sock:
        sock.sendall(request * 3 + last)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 4
    assert data.rstrip().endswith(b'"extensions":["feedback"]}')


def test_the_server_survives_every_error_above(iris: Server) -> None:
    assert iris.get("/v2/health/ready").status_code == 200
    assert iris.proc.poll() is None


def test_headers_past_the_limit_get_a_431_and_the_server_keeps_serving(iris: Server) -> None:
    with socket.create_connection(("127.0.0.1", iris.port), timeout=10) as sock:
        sock.sendall(b"GET /v2 HTTP/1.1\r\nhost: x\r\n")
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for _ in range(100):
                sock.sendall(b"x-filler: " + b"a" * 1000 + b"\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431")
    assert iris.get("/v2/health/live").status_code == 200


def test_expect_100_continue_is_answered_before_the_body_is_sent(iris: Server) -> None:
    body = b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}'
    with socket.create_connection(("127.0.0.1", iris.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v2/models/iris/infer HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
        )
        assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")


def test_a_chunked_body_is_read_whole(iris: Server) -> None:
    parts = [b'{"inputs": [{"name": "x", "shape": [1, 4], ', b'"datatype": "FP64", ',
             b'"data": [5.1, 3.5, 1.4, 0.2]}]}']  # fmt: skip
    response = iris.post("/v2/models/iris/infer", content=iter(parts))
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [0]
