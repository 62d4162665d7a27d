"""Shadowing between real servers: a stable copies requests to a shadow, never returns its answers,
counts agreement, forwards ground truth by the same id, and drops copies rather than wait."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelrollout.serving import shadow
from tests.serving import server as srv

SETOSA, VIRGINICA = [5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]


def stable_args(uri: str, shadow_url: str) -> list[str]:
    return ["--model-uri", uri, "--model-name", "iris", "--model-version", "1", "--track",
            "stable", "--namespace", "ml", "--shadow-url", shadow_url]  # fmt: skip


def shadow_args(uri: str, percent: int) -> list[str]:
    return ["--model-uri", uri, "--model-name", "iris", "--model-version", "2", "--track",
            "canary", "--namespace", "ml", "--mirror-percent", str(percent)]  # fmt: skip


@pytest.fixture(scope="module")
def wrong_model(model_dir: Path) -> Path:
    """Iris with every label moved to the next class: it disagrees with the good model everywhere."""
    x, y = load_iris(return_X_y=True)
    path = model_dir / "iris-wrong.skops"
    skops.io.dump(LogisticRegression(max_iter=1000).fit(x, (y + 1) % 3), path)
    return path


def wait_for(check: Callable[[], bool], *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.1)


def value(server: srv.Server, name: str, **labels: str) -> float:
    track = "stable" if server.get("/v2/models/iris").json()["versions"] == ["1"] else "canary"
    version = "1" if track == "stable" else "2"
    key = srv.series(name, track=track, version=version, **labels)
    return server.metrics().get(key, 0.0)


def test_a_shadow_answers_copies_that_never_reach_the_client_and_feedback_scores_it(
    model_dir: Path, wrong_model: Path, tmp_path: Path
) -> None:
    with (
        srv.running(tmp_path, shadow_args(f"file://{wrong_model}", 100)) as canary,
        srv.running(tmp_path, stable_args(f"file://{model_dir}/iris.skops", canary.url)) as stable,
    ):
        assert canary.get(shadow.SHADOW_PATH).json()["mirror"] == 100
        time.sleep(shadow.PROBE_SECONDS + 0.5)  # the stable has seen the shadow ask
        answers = [stable.infer([SETOSA, VIRGINICA], id=f"r{i}").json() for i in range(10)]
        # The client gets the stable's answers only (the shadow would say [1, 0]).
        assert {a["model_version"] for a in answers} == {"1"}
        assert all(a["outputs"][0]["data"] == [0, 2] for a in answers)
        wait_for(lambda: value(stable, "model_shadow_mirrored_total") == 10)
        assert value(canary, "model_requests_total", code="200") == 10
        assert value(stable, "model_shadow_agreement_total", outcome="disagree") == 20
        assert value(stable, "model_shadow_agreement_total", outcome="agree") == 0
        # Ground truth sent to the stable scores the shadow's prediction of the same request.
        for i in range(10):
            scored = stable.post("/v2/models/iris/feedback", json={"id": f"r{i}", "truth": [0, 2]})
            assert scored.json()["correct"] == 2
        wait_for(lambda: value(canary, "model_feedback_total", outcome="incorrect") == 20)
        assert value(canary, "model_feedback_total", outcome="correct") == 0
        assert value(stable, "model_feedback_total", outcome="correct") == 20
        assert value(stable, "model_shadow_dropped_total", reason="error") == 0


def test_a_server_that_is_no_shadow_gets_no_copies(model_dir: Path, tmp_path: Path) -> None:
    uri = f"file://{model_dir}/iris.skops"
    with (
        srv.running(tmp_path, shadow_args(uri, 0)) as other,
        srv.running(tmp_path, stable_args(uri, other.url)) as stable,
    ):
        assert other.get(shadow.SHADOW_PATH).status_code == 404
        time.sleep(shadow.PROBE_SECONDS + 0.5)
        for _ in range(5):
            assert stable.infer([SETOSA]).status_code == 200
        time.sleep(0.5)
        assert value(other, "model_requests_total", code="200") == 0
        assert value(stable, "model_shadow_mirrored_total") == 0


class _StuckShadow(http.server.BaseHTTPRequestHandler):
    """Asks for every request, then takes a second over each copy: a shadow far slower than the load."""

    def do_GET(self) -> None:
        self._answer(b'{"mirror": 100}')

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        time.sleep(1.0)
        self._answer(b'{"outputs": []}')

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def stuck_shadow() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StuckShadow)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_slow_shadow_fills_the_queue_and_copies_are_dropped_not_waited_for(
    model_dir: Path, tmp_path: Path, stuck_shadow: str
) -> None:
    with srv.running(tmp_path, stable_args(f"file://{model_dir}/iris.skops", stuck_shadow)) as s:
        time.sleep(shadow.PROBE_SECONDS + 0.5)
        sent = shadow.QUEUE_SIZE + 200
        started = time.perf_counter()
        assert all(s.infer([SETOSA]).status_code == 200 for _ in range(sent))
        elapsed = time.perf_counter() - started
        # Each copy takes the shadow a second; had the stable waited, this would take `sent` s.
        assert elapsed < sent * 0.1
        assert value(s, "model_shadow_dropped_total", reason="queue_full") >= 150
