"""Requests written to break the server: each gets a 400 that says why, and metrics count it so."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import server as srv
from tests.serving.conftest import IRIS_ARGS

SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]
TOKEN = "feedback-secret-7c1e"
ONE_ROW = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [SETOSA]}]}
RULE = "1 to 128 characters, each a letter, digit, '.', '_', ':' or '-'"


def counts(server: srv.Server) -> dict[str, float]:
    """The iris server's request counter by code (the iris fixture's default labels)."""
    values = server.metrics()
    return {
        code: values.get(srv.series("model_requests_total", code=code), 0.0)
        for code in ("200", "400", "500")
    }


def raw_exchange(server: srv.Server, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "request_id",
    ["a\r\nx-injected: 1", "caf\u00e9", "\u20ac", "x" * 129, "", "a b", "a/b"],
    ids=["crlf", "latin-1", "non-latin-1", "129-chars", "empty", "space", "slash"],
)
def test_a_body_id_outside_the_rule_is_a_400_naming_it_and_counted_as_a_400(
    iris: srv.Server, request_id: str
) -> None:
    before = counts(iris)
    response = iris.post("/v2/models/iris/infer", json={"id": request_id, **ONE_ROW})
    assert response.status_code == 400
    assert "x-injected" not in response.headers
    assert "x-request-id" not in response.headers
    error = response.json()["error"]
    assert "'id' in the body" in error
    assert RULE in error
    after = counts(iris)
    assert after["400"] == before["400"] + 1
    assert after["200"] == before["200"]


def test_a_long_x_request_id_header_is_a_400_not_echoed(iris: srv.Server) -> None:
    before = counts(iris)
    response = iris.post(
        "/v2/models/iris/infer", json=ONE_ROW, headers={"x-request-id": "y" * 10_000}
    )
    assert response.status_code == 400
    assert "x-request-id" not in response.headers
    error = response.json()["error"]
    assert "the x-request-id header" in error
    assert "(10000 characters)" in error
    assert len(error) < 300, "the refusal must not echo the whole id"
    assert counts(iris)["400"] == before["400"] + 1


def test_a_non_ascii_x_request_id_header_is_a_400_in_json(iris: srv.Server) -> None:
    body = b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}'
    answer = raw_exchange(
        iris,
        b"POST /v2/models/iris/infer HTTP/1.1\r\nhost: x\r\nx-request-id: \xe2\x82\xac\r\n"
        + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
        + body,
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"x-request-id:" not in head.lower()
    assert b"the x-request-id header" in payload
    assert RULE.encode() in payload


@pytest.mark.parametrize("request_id", ["req-1", "a.b_c:d-E9", "z" * 128])
def test_an_id_inside_the_rule_is_echoed_in_body_and_header(
    iris: srv.Server, request_id: str
) -> None:
    response = iris.post("/v2/models/iris/infer", json={"id": request_id, **ONE_ROW})
    assert response.status_code == 200
    assert response.json()["id"] == response.headers["x-request-id"] == request_id


def test_feedback_for_an_id_outside_the_rule_is_a_400_naming_the_rule(iris: srv.Server) -> None:
    response = iris.post("/v2/models/iris/feedback", json={"id": "a\r\nb", "truth": [0]})
    assert response.status_code == 400
    assert "feedback 'id'" in response.json()["error"]
    assert RULE in response.json()["error"]


def test_a_server_made_id_is_128_random_bits(iris: srv.Server) -> None:
    ids = {iris.post("/v2/models/iris/infer", json=ONE_ROW).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    # No shared prefix to learn and count from, as a per-process prefix and a counter had.
    assert len({i[:12] for i in ids}) == 3


def test_an_id_still_awaiting_feedback_cannot_be_taken_over(iris: srv.Server) -> None:
    first = iris.post("/v2/models/iris/infer", json={"id": "victim-1", **ONE_ROW})
    assert first.json()["outputs"][0]["data"] == [0]
    virginica = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [VIRGINICA]}
    forged = iris.post("/v2/models/iris/infer", json={"id": "victim-1", "inputs": [virginica]})
    assert forged.status_code == 409
    assert "'victim-1' belongs to an earlier request" in forged.json()["error"]
    header = iris.post("/v2/models/iris/infer", json=ONE_ROW, headers={"x-request-id": "victim-1"})
    assert header.status_code == 409
    # The victim's own prediction (class 0) is the one scored.
    answer = iris.post("/v2/models/iris/feedback", json={"id": "victim-1", "truth": [0]})
    assert answer.json()["correct"] == 1


def test_a_second_feedback_for_an_id_is_a_409_and_counts_nothing(iris: srv.Server) -> None:
    assert iris.post("/v2/models/iris/infer", json={"id": "once-1", **ONE_ROW}).status_code == 200
    assert iris.post("/v2/models/iris/feedback", json={"id": "once-1", "truth": [0]}).is_success
    correct = srv.series("model_feedback_total", outcome="correct")
    before = iris.metrics()[correct]
    again = iris.post("/v2/models/iris/feedback", json={"id": "once-1", "truth": [0]})
    assert again.status_code == 409
    assert "'once-1' was already scored" in again.json()["error"]
    assert iris.metrics()[correct] == before
    # Once scored, the id may name a new request.
    assert iris.post("/v2/models/iris/infer", json={"id": "once-1", **ONE_ROW}).status_code == 200


@pytest.fixture(scope="module")
def guarded(model_dir: Path) -> Iterator[srv.Server]:
    uri = f"file://{model_dir}/iris.skops"
    env = srv.clean_env(MODEL_ROLLOUT_FEEDBACK_TOKEN=TOKEN)
    with srv.running(model_dir, ["--model-uri", uri, *IRIS_ARGS], env=env) as server:
        yield server


@pytest.mark.parametrize(
    ("authorization", "says"),
    [(None, "no bearer token"), ("Bearer wrong", "a different token"),
     (f"Basic {TOKEN}", "no bearer token"), (f"Bearer {TOKEN}x", "a different token")],
)  # fmt: skip
def test_with_a_feedback_token_feedback_without_it_is_a_401(
    guarded: srv.Server, authorization: str | None, says: str
) -> None:
    request_id = "guarded-" + re.sub(r"[^A-Za-z0-9]", "", authorization or "none")
    assert guarded.post("/v2/models/iris/infer", json={"id": request_id, **ONE_ROW}).is_success
    headers = {"authorization": authorization} if authorization else {}
    body = {"id": request_id, "truth": [0]}
    refused = guarded.post("/v2/models/iris/feedback", json=body, headers=headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    error = refused.json()["error"]
    assert "'Authorization: Bearer <token>'" in error
    assert "MODEL_ROLLOUT_FEEDBACK_TOKEN" in error
    assert says in error
    assert TOKEN not in error
    # The refusal did not use up the prediction.
    good = {"authorization": f"Bearer {TOKEN}"}
    answer = guarded.post("/v2/models/iris/feedback", json=body, headers=good)
    assert answer.status_code == 200
    assert answer.json()["correct"] == 1


def test_the_feedback_token_never_appears_in_the_server_log(guarded: srv.Server) -> None:
    assert TOKEN not in guarded.log_text()


def test_the_feedback_token_can_be_a_mounted_file(model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")  # as a Secret volume often has it
    args = ["--model-uri", f"file://{model_dir}/iris.skops", *IRIS_ARGS]
    with srv.running(model_dir, [*args, "--feedback-token-file", str(path)]) as server:
        assert server.post("/v2/models/iris/infer", json={"id": "f-1", **ONE_ROW}).is_success
        body = {"id": "f-1", "truth": [0]}
        assert server.post("/v2/models/iris/feedback", json=body).status_code == 401
        good = {"authorization": f"Bearer {TOKEN}"}
        answer = server.post("/v2/models/iris/feedback", json=body, headers=good)
        assert answer.status_code == 200
        assert TOKEN not in server.log_text()


def tensor(data: object, shape: list[int], datatype: str = "FP64", name: str = "x") -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ([tensor([[1e39, 3.5, 1.4, 0.2]], [1, 4], "FP32", "petals")],
         "input 'petals': a value is beyond the range of FP32"),
        ([tensor([[-3.5e38, 3.5, 1.4, 0.2]], [1, 4], "FP32")], "beyond the range of FP32"),
        ([tensor([1.0] * 4, [1] * 65 + [4])], "input 'x': shape [1, 1, 1, 1, 1, 1, 1, 1]..."),
        ([tensor([1.0] * 4, [1, 1, 1, 4])], "has 4 dimensions; send [rows, features]"),
        ([tensor([[1.0, 2.0], [3.0, 4.0]], [1, 4])],
         "input 'x': 'data' is nested as [2, 2] but 'shape' is [1, 4]"),
        ([tensor([], [2**62, 0])], "input 'x': shape [4611686018427387904, 0] holds no values"),
        ([tensor([1.0, 2.0], [2], name="a"), tensor([1.0, 2.0, 3.0], [3], name="b"),
          tensor([1.0, 2.0], [2], name="c"), tensor([1.0, 2.0], [2], name="d")],
         "of equal length"),
    ],
    ids=["fp32-overflow", "fp32-negative-overflow", "65-dims", "4-dims", "nested-mismatch",
         "empty-huge-dim", "columns-of-unequal-length"],
)  # fmt: skip
def test_a_tensor_the_model_cannot_take_is_a_400_before_the_model_runs(
    iris: srv.Server, inputs: list[dict], says: str
) -> None:
    before = counts(iris)
    response = iris.post("/v2/models/iris/infer", json={"inputs": inputs})
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]
    after = counts(iris)
    assert after["400"] == before["400"] + 1
    assert after["500"] == before["500"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_nan_and_infinity_in_the_body_are_a_400(iris: srv.Server, literal: bytes) -> None:
    body = b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, '
    response = iris.post("/v2/models/iris/infer", content=body + literal + b"]}]}")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


def test_the_largest_finite_fp32_value_is_served(iris: srv.Server) -> None:
    response = iris.post(
        "/v2/models/iris/infer",
        json={"inputs": [tensor([[3.4e38, 1.0, 1.0, 1.0]], [1, 4], "FP32")]},
    )
    assert response.status_code == 200, response.text
