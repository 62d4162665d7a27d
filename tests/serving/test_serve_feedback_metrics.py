"""Metric values after a known sequence of requests and feedback, for a classifier and a regressor."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelrollout.serving import feedback
from tests.serving import server as srv
from tests.serving.conftest import IRIS_ARGS

SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]
CONTRACT = {
    "model_requests_total",
    "model_request_duration_seconds",
    "model_predictions_total",
    "model_feedback_total",
    "model_feedback_abs_error",
    "model_info",
    "model_feedback_store_entries",
    "model_feedback_store_bytes",
    "model_feedback_store_evictions_total",
    # Shadow copies and input bins: declared always, with samples only when configured.
    "model_shadow_mirrored_total",
    "model_shadow_dropped_total",
    "model_shadow_agreement_total",
    "model_input_bin_total",
    "model_input_reference_share",
    "model_input_reference_rows",
}
# With several workers (prometheus_client's multiprocess files) a family appears once it has a
# sample; the input bins have none without --reference-uri.
NEEDS_REFERENCE = {
    "model_input_bin_total",
    "model_input_reference_share",
    "model_input_reference_rows",
}
S = srv.series


def run_known_sequence(server: srv.Server, *, fresh_connections: bool = False) -> None:
    """3 good inferences (4 rows), one 400, one 404; feedback: 2 correct, 2 incorrect, 3 refused."""

    def post(path: str, body: object) -> httpx.Response:
        if not fresh_connections:
            return server.post(path, json=body)
        # A new connection each time, so that with several workers the kernel spreads them.
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.post(path, json=body)

    def infer(request_id: str, rows: list[list[float]]) -> httpx.Response:
        body = {
            "id": request_id,
            "inputs": [
                {"name": "x", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": rows}
            ],
        }
        return post("/v2/models/iris/infer", body)  # fmt: skip

    assert infer("a", [SETOSA, VIRGINICA]).json()["outputs"][0]["data"] == [0, 2]
    assert infer("b", [SETOSA]).status_code == 200
    assert infer("c", [SETOSA]).status_code == 200
    assert infer("bad", [[1.0, 2.0]]).status_code == 400
    assert post("/v2/models/wine/infer", {}).status_code == 404

    feedback = "/v2/models/iris/feedback"
    answer = post(feedback, {"id": "a", "truth": [0, 1]})
    assert answer.json() == {
        "id": "a",
        "model_name": "iris",
        "rows": 2,
        "correct": 1,
        "incorrect": 1,
    }
    assert post(feedback, {"id": "b", "truth": ["0"]}).json()["correct"] == 1
    again = post(feedback, {"id": "b", "truth": [0]})
    assert again.status_code == 409
    assert "'b' was already scored" in again.json()["error"]
    assert post(feedback, {"id": "never", "truth": [0]}).status_code == 404
    mismatch = post(feedback, {"id": "c", "truth": [0, 0]})
    assert mismatch.status_code == 400
    assert "made 1 predictions but the feedback has 2" in mismatch.json()["error"]
    assert post(feedback, {"id": "c", "truth": 2}).json()["incorrect"] == 1  # the id survived


def assert_known_sequence_metrics(server: srv.Server, digest: str) -> None:
    values = server.metrics()
    assert values[S("model_requests_total", code="200")] == 3
    assert values[S("model_requests_total", code="400")] == 1
    assert values[S("model_requests_total", code="404")] == 1
    assert values[S("model_request_duration_seconds_count")] == 5
    assert values[S("model_request_duration_seconds_bucket", le="+Inf")] == 5
    assert 0 < values[S("model_request_duration_seconds_sum")] < 5
    assert values[S("model_predictions_total", label="0")] == 3
    assert values[S("model_predictions_total", label="2")] == 1
    assert values[S("model_feedback_total", outcome="correct")] == 2
    assert values[S("model_feedback_total", outcome="incorrect")] == 2
    assert values[S("model_feedback_abs_error_count")] == 0
    assert values[S("model_feedback_store_entries")] == 0  # every kept prediction was scored
    assert values[S("model_feedback_store_bytes")] == 0
    for reason in feedback.EVICTION_REASONS:
        assert values[S("model_feedback_store_evictions_total", reason=reason)] == 0
    assert values[S("model_info", digest=digest, format="skops")] == 1


def assert_exactly_the_contract(server: srv.Server, *, workers: int = 1) -> None:
    text = server.get("/metrics").text
    families = set(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))
    assert families == (CONTRACT if workers == 1 else CONTRACT - NEEDS_REFERENCE)
    for key in server.metrics():
        for label in ('model="iris"', 'version="2"', 'track="canary"', 'namespace="ml"'):
            assert label in key, f"{key} lacks {label}"


def test_the_metrics_after_a_known_sequence_are_exact(model_dir: Path) -> None:
    uri = f"file://{model_dir}/iris.skops"
    with srv.running(model_dir, ["--model-uri", uri, *IRIS_ARGS]) as server:
        digest = server.get("/v2/models/iris").json()["parameters"]["digest"]
        run_known_sequence(server)
        assert_known_sequence_metrics(server, digest)
        assert_exactly_the_contract(server)


def test_two_workers_share_feedback_and_sum_their_metrics(model_dir: Path) -> None:
    uri = f"file://{model_dir}/iris.skops"
    with srv.running(model_dir, ["--model-uri", uri, *IRIS_ARGS, "--workers", "2"]) as server:
        digest = server.get("/v2/models/iris").json()["parameters"]["digest"]
        run_known_sequence(server, fresh_connections=True)
        # Feedback sent on fresh connections lands on either worker, whichever made the prediction.
        for i in range(16):
            with httpx.Client(base_url=server.url, timeout=30) as client:
                body = {"id": f"spread-{i}", "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [SETOSA]}]}  # fmt: skip
                assert client.post("/v2/models/iris/infer", json=body).status_code == 200
        for i in range(16):
            with httpx.Client(base_url=server.url, timeout=30) as client:
                answer = client.post(
                    "/v2/models/iris/feedback", json={"id": f"spread-{i}", "truth": [0]}
                )
                assert answer.status_code == 200, answer.text
        values = server.metrics()
        assert values[S("model_requests_total", code="200")] == 3 + 16
        assert values[S("model_feedback_total", outcome="correct")] == 2 + 16
        assert values[S("model_feedback_total", outcome="incorrect")] == 2
        assert values[S("model_predictions_total", label="0")] == 3 + 16
        assert values[S("model_info", digest=digest, format="skops")] == 1
        assert_exactly_the_contract(server, workers=2)
        assert server.stop() == 0


def test_regression_feedback_becomes_an_absolute_error_histogram(model_dir: Path) -> None:
    uri = f"file://{model_dir}/diabetes.skops"
    args = ["--model-uri", uri, "--model-name", "iris", "--model-version", "2",
            "--track", "canary", "--namespace", "ml"]  # fmt: skip
    with srv.running(model_dir, args) as server:
        rows = [[0.01 * i] * 10 for i in range(2)]
        body = {"id": "r", "inputs": [{"name": "x", "shape": [2, 10], "datatype": "FP64",
                                       "data": rows}]}  # fmt: skip
        doc = server.post("/v2/models/iris/infer", json=body).json()
        predicted = doc["outputs"][0]["data"]
        assert doc["outputs"][0]["datatype"] == "FP64"
        refused = server.post("/v2/models/iris/feedback", json={"id": "r", "truth": ["a", "b"]})
        assert refused.status_code == 400
        assert "must be numbers" in refused.json()["error"]
        truth = [predicted[0] + 3.0, predicted[1] - 7.0]
        answer = server.post("/v2/models/iris/feedback", json={"id": "r", "truth": truth}).json()
        assert answer["abs_errors"] == pytest.approx([3.0, 7.0])
        values = server.metrics()
        assert values[S("model_feedback_abs_error_count")] == 2
        assert values[S("model_feedback_abs_error_sum")] == pytest.approx(10.0)
        assert values[S("model_feedback_abs_error_bucket", le="5.0")] == 1
        assert values[S("model_feedback_abs_error_bucket", le="10.0")] == 2
        assert values[S("model_feedback_total", outcome="correct")] == 0
        assert not any(k.startswith("model_predictions_total") for k in values)
        assert server.get("/v2/models/iris").json()["outputs"] == [
            {"name": "predict", "datatype": "FP64", "shape": [-1]}
        ]


def test_feedback_without_an_id_or_truth_says_what_to_send(iris: srv.Server) -> None:
    no_id = iris.post("/v2/models/iris/feedback", json={"truth": [0]})
    assert no_id.status_code == 400
    assert "needs 'id'" in no_id.json()["error"]
    no_truth = iris.post("/v2/models/iris/feedback", json={"id": "x"})
    assert "needs 'truth'" in no_truth.json()["error"]
    assert iris.post("/v2/models/iris/feedback", content=b"{").status_code == 400


def test_the_feedback_store_keeps_to_its_byte_budget_evicting_the_oldest(model_dir: Path) -> None:
    one_row = feedback.approximate_bytes("e-1", np.zeros(1, dtype=np.int64))
    uri = f"file://{model_dir}/iris.skops"
    budget = 2 * one_row + one_row // 2  # room for two one-row requests, not three
    args = ["--model-uri", uri, *IRIS_ARGS, "--feedback-max-bytes", str(budget)]
    with srv.running(model_dir, args) as server:
        for request_id in ("e-1", "e-2", "e-3"):
            assert server.infer([SETOSA], id=request_id).status_code == 200
        values = server.metrics()
        assert values[S("model_feedback_store_entries")] == 2
        assert values[S("model_feedback_store_bytes")] == 2 * one_row
        assert values[S("model_feedback_store_evictions_total", reason="bytes")] == 1
        forgotten = server.post("/v2/models/iris/feedback", json={"id": "e-1", "truth": [0]})
        assert forgotten.status_code == 404
        assert server.post("/v2/models/iris/feedback", json={"id": "e-3", "truth": [0]}).is_success
        # A request bigger than the whole budget is served but not kept, and nothing else is lost.
        assert server.infer([SETOSA] * 50, id="big").status_code == 200
        values = server.metrics()
        assert values[S("model_feedback_store_entries")] == 1
        assert values[S("model_feedback_store_bytes")] == one_row
        assert values[S("model_feedback_store_evictions_total", reason="bytes")] == 2
        assert server.post("/v2/models/iris/feedback", json={"id": "e-2", "truth": [0]}).is_success


def test_predictions_older_than_the_age_limit_are_dropped_even_on_an_idle_server(
    model_dir: Path,
) -> None:
    uri = f"file://{model_dir}/iris.skops"
    args = ["--model-uri", uri, *IRIS_ARGS, "--feedback-max-age-seconds", "1"]
    with srv.running(model_dir, args) as server:
        assert server.infer([SETOSA], id="old-1").status_code == 200
        assert server.infer([SETOSA, VIRGINICA], id="old-2").status_code == 200
        assert server.metrics()[S("model_feedback_store_entries")] == 2
        time.sleep(1.3)
        # No request since: the scrape itself finds them too old.
        values = server.metrics()
        assert values[S("model_feedback_store_entries")] == 0
        assert values[S("model_feedback_store_bytes")] == 0
        assert values[S("model_feedback_store_evictions_total", reason="age")] == 2
        assert values[S("model_feedback_store_evictions_total", reason="entries")] == 0
        late = server.post("/v2/models/iris/feedback", json={"id": "old-1", "truth": [0]})
        assert late.status_code == 404
        assert "1 seconds (--feedback-max-age-seconds)" in late.json()["error"]
        assert values[S("model_feedback_total", outcome="correct")] == 0
        # A fresh prediction within the limit still gets its feedback.
        assert server.infer([SETOSA], id="new-1").status_code == 200
        fresh = server.post("/v2/models/iris/feedback", json={"id": "new-1", "truth": [0]})
        assert fresh.json()["correct"] == 1
