"""Start-up refusals, configuration from the environment, and draining on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.serving import server as srv

BODY = (
    b'{"id": "slow", "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",'
    b' "data": [5.1, 3.5, 1.4, 0.2]}]}'
)


def run_to_exit(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    del tmp
    return subprocess.run(
        srv.command(args),
        capture_output=True,
        text=True,
        timeout=120,
        env=srv.clean_env(**env),
        check=False,
    )


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited orphan may linger a moment before init reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def read_response(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_missing_model_exits_non_zero_with_a_clear_error(tmp_path: Path) -> None:
    done = run_to_exit(["--model-uri", f"file://{tmp_path}/none.skops", "--model-name", "iris"],
                       tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert "cannot load model 'iris' from 'file://" in done.stderr
    assert "does not exist" in done.stderr


def test_a_pickle_model_without_permission_is_refused_at_start(tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), tmp_path / "m.joblib")
    done = run_to_exit(["--model-uri", f"file://{tmp_path}/m.joblib", "--format", "joblib"],
                       tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert "allowUnsafePickle" in done.stderr


def test_a_wrong_sha256_pin_is_refused_at_start(model_dir: Path) -> None:
    done = run_to_exit(
        ["--model-uri", f"file://{model_dir}/iris.skops", "--sha256", "0" * 64], model_dir
    )
    assert done.returncode == 1
    assert "sha256 mismatch" in done.stderr


def test_bad_settings_exit_2_naming_the_flag_and_its_variable(tmp_path: Path) -> None:
    done = run_to_exit(["--model-uri", "file:///m.skops", "--workers", "0"], tmp_path)
    assert done.returncode == 2
    assert "--workers (or MODEL_ROLLOUT_WORKERS) is '0'" in done.stderr
    done = run_to_exit([], tmp_path)
    assert done.returncode == 2
    assert "pass --model-uri (or set MODEL_ROLLOUT_MODEL_URI)" in done.stderr


def test_a_port_already_taken_exits_non_zero(model_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_to_exit(
            ["--model-uri", f"file://{model_dir}/iris.skops", "--host", "127.0.0.1",
             "--port", str(port)], model_dir,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_every_setting_can_come_from_the_environment(model_dir: Path) -> None:
    env = srv.clean_env(
        MODEL_ROLLOUT_MODEL_URI=f"file://{model_dir}/iris.skops",
        MODEL_ROLLOUT_MODEL_NAME="iris",
        MODEL_ROLLOUT_MODEL_VERSION="2",
        MODEL_ROLLOUT_TRACK="canary",
        MODEL_ROLLOUT_NAMESPACE="ml",
        MODEL_ROLLOUT_MAX_BODY_BYTES="50",
    )
    with srv.running(model_dir, [], env=env) as server:
        assert server.get("/v2/models/iris/versions/2").status_code == 200
        assert server.infer([[5.1, 3.5, 1.4, 0.2]]).status_code == 413
        assert srv.series("model_requests_total", code="413") in server.metrics()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_the_request_in_flight_then_exits_zero(
    model_dir: Path, workers: int
) -> None:
    uri = f"file://{model_dir}/iris.skops"
    server = srv.start(model_dir, ["--model-uri", uri, "--model-name", "iris",
                                   "--workers", str(workers)])  # fmt: skip
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)

        def connect() -> socket.socket:
            return stack.enter_context(socket.create_connection(("127.0.0.1", server.port), 10))

        idle = connect()
        idle.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200")
        asking = connect()
        asking.sendall(b"GET /v2/health/ready HTTP/1.1\r\nhost: x\r\n")  # headers not finished
        slow = connect()
        slow.sendall(
            b"POST /v2/models/iris/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(BODY)}\r\n\r\n".encode()
            + BODY[:20]
        )
        time.sleep(0.5)  # let the server read what was sent
        server.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not refused(server.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert refused(server.port), "the server still accepts connections after SIGTERM"
        assert read_response(idle) == b"", "an idle keep-alive connection should be closed"
        asking.sendall(b"\r\n")
        ready = read_response(asking)
        assert ready.startswith(b"HTTP/1.1 503")
        assert b'{"ready":false}' in ready
        assert server.proc.poll() is None, "the server exited with a request in flight"
        slow.sendall(BODY[20:])
        answer = read_response(slow)
        assert answer.startswith(b"HTTP/1.1 200")
        assert b"connection: close" in answer
        assert b'"id":"slow"' in answer
        assert server.proc.wait(timeout=30) == 0
        assert "stopping; finishing requests in flight" in server.log_text()


def test_an_onnx_model_is_served_with_its_label_datatype(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    x, y = load_iris(return_X_y=True)
    onnx = skl2onnx.to_onnx(LogisticRegression(max_iter=1000).fit(x, y), x[:1].astype("float32"))
    (tmp_path / "iris.onnx").write_bytes(onnx.SerializeToString())
    args = ["--model-uri", f"file://{tmp_path}/iris.onnx", "--format", "onnx",
            "--model-name", "iris"]  # fmt: skip
    with srv.running(tmp_path, args) as server:
        meta = server.get("/v2/models/iris").json()
        assert meta["platform"] == "onnxruntime"
        assert meta["outputs"][0] == {"name": "predict", "datatype": "INT64", "shape": [-1]}
        answer = server.infer([[5.1, 3.5, 1.4, 0.2]], outputs=[{"name": "predict_proba"}])
        proba = answer.json()["outputs"][0]
        assert proba["shape"] == [1, 3]
        assert proba["data"][0] > 0.9


def test_a_model_that_crashes_on_a_row_gives_a_500_and_keeps_serving(tmp_path: Path) -> None:
    from tests.serving.faulty import FaultyClassifier

    joblib.dump(FaultyClassifier().fit(np.zeros((2, 2)), np.array([0, 1])), tmp_path / "f.joblib")
    args = ["--model-uri", f"file://{tmp_path}/f.joblib", "--format", "joblib",
            "--allow-unsafe-pickle", "--model-name", "iris"]  # fmt: skip
    # Run from the repository root, so that unpickling can import the test's class.
    with srv.running(tmp_path, args, cwd=Path(__file__).parents[2]) as server:
        crash = server.infer([[13.0, 1.0]])
        assert crash.status_code == 500
        assert crash.json() == {"error": "model 'iris' failed; see the server log"}
        assert server.infer([[1.0, 1.0]]).json()["outputs"][0]["data"] == [0]
        assert server.metrics()['model_requests_total{code="500",model="iris",namespace='
                                '"default",track="stable",version="1"}'] == 1  # fmt: skip
    assert "RuntimeError: unlucky row" in server.log_text()


def test_a_model_that_fails_on_well_formed_rows_answers_500_not_400(tmp_path: Path) -> None:
    """A broken artifact (weights for 5 features behind a declared 4) is the model's fault, not the
    client's: a 400 would hide it from error-rate analysis, which counts 5xx."""
    import skops.io

    x, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(x, y)
    clf.coef_ = np.zeros((clf.coef_.shape[0], 5))
    skops.io.dump(clf, tmp_path / "broken.skops")
    args = ["--model-uri", f"file://{tmp_path}/broken.skops", "--model-name", "iris"]
    with srv.running(tmp_path, args) as server:
        failed = server.infer([[5.1, 3.5, 1.4, 0.2]])
        assert failed.status_code == 500
        assert "failed on a well-formed input" in failed.json()["error"]
    assert "failed on a well-formed request" in server.log_text()


def test_a_worker_that_dies_is_replaced_and_its_counts_are_kept(model_dir: Path) -> None:
    uri = f"file://{model_dir}/iris.skops"
    with srv.running(
        model_dir, ["--model-uri", uri, "--model-name", "iris", "--workers", "2"]
    ) as s:
        key = 'model_requests_total{code="200",model="iris",namespace="default",track="stable",version="1"}'
        for _ in range(6):
            with httpx.Client(base_url=s.url, timeout=30) as client:
                body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                                    "data": [5.1, 3.5, 1.4, 0.2]}]}  # fmt: skip
                assert client.post("/v2/models/iris/infer", json=body).status_code == 200
        children = Path(f"/proc/{s.proc.pid}/task/{s.proc.pid}/children").read_text().split()
        assert len(children) == 2
        os.kill(int(children[0]), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = Path(f"/proc/{s.proc.pid}/task/{s.proc.pid}/children").read_text().split()
            if len(now) == 2 and children[0] not in now:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"no replacement worker:\n{s.log_text()}")
        assert s.metrics()[key] == 6
        assert s.get("/v2/health/ready").status_code == 200
    assert "starting a new one" in s.log_text()


def test_workers_stop_when_the_supervisor_is_killed_outright(model_dir: Path) -> None:
    uri = f"file://{model_dir}/iris.skops"
    server = srv.start(model_dir, ["--model-uri", uri, "--workers", "2"])
    try:
        children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text()
        workers = [int(pid) for pid in children.split()]
        assert len(workers) == 2
        server.proc.kill()
        server.proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(running(w) for w in workers):
            time.sleep(0.1)
        assert [w for w in workers if running(w)] == [], "orphaned workers still running"
        assert refused(server.port)
    finally:
        server.stop()
