"""The traffic generator against a real `model-rollout serve` process: requests and feedback arrive.

Not marked unit: starting the server imports scikit-learn, which takes seconds on a busy machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.e2e import traffic

STARTUP_S = 90.0  # importing scikit-learn on a loaded machine can take a while


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serving(tmp: Path, *, model_uri: str, port: int) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_ROLLOUT_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    argv = [sys.executable, "-m", "modelrollout.cli", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--model-uri", model_uri, "--model-name", "iris",
            "--model-version", "2", "--track", "canary", "--namespace", "ml"]  # fmt: skip
    log = tmp / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            assert proc.poll() is None, f"the server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the server never got ready:\n{log.read_text()}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            total += float(m.group(2))
    return total


def test_requests_and_their_feedback_reach_a_real_model_server(tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True)
    skops.io.dump(LogisticRegression(max_iter=1000).fit(x, y), tmp_path / "iris.skops")
    port = _free_port()
    with _serving(tmp_path, model_uri=f"file://{tmp_path}/iris.skops", port=port) as url:
        gen = traffic.TrafficGenerator(
            None, namespace="ml", service="iris", model="iris", rows=x, truth=y,
            rate_per_s=50, seed=1, endpoints=[("127.0.0.1", port)],
        )  # fmt: skip
        with gen:
            deadline = time.monotonic() + 30
            while gen.stats().total < 60:
                assert time.monotonic() < deadline, f"only {gen.stats().total} requests in 30 s"
                time.sleep(0.1)
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
    stats = gen.stats()
    assert dict(stats.by_version) == {"2": stats.total}
    assert dict(stats.by_code) == {200: stats.total}
    assert dict(stats.feedback_by_code) == {200: stats.total}
    assert _metric(metrics, "model_requests_total", code="200", version="2") == stats.total
    correct = _metric(metrics, "model_feedback_total", outcome="correct", track="canary")
    incorrect = _metric(metrics, "model_feedback_total", outcome="incorrect", track="canary")
    assert correct + incorrect == stats.total
    assert correct / stats.total > 0.9  # the model fits iris well: truth was matched per request
