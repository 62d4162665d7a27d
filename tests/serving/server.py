"""Start `model-rollout serve` as a real process on 127.0.0.1 and talk HTTP to it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import skops.io
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

STARTUP_SECONDS = 90.0  # importing scikit-learn on a loaded CI machine can take a while


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iris_model(directory: Path) -> Path:
    x, y = load_iris(return_X_y=True)
    path = directory / "iris.skops"
    skops.io.dump(LogisticRegression(max_iter=1000).fit(x, y), path)
    return path


def diabetes_model(directory: Path) -> Path:
    x, y = load_diabetes(return_X_y=True)
    path = directory / "diabetes.skops"
    skops.io.dump(LinearRegression().fit(x, y), path)
    return path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_ROLLOUT_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.post(path, **kw)

    def infer(self, rows: list[list[float]], **fields: Any) -> httpx.Response:
        body = {
            "inputs": [
                {"name": "x", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": rows}
            ],
            **fields,
        }
        return self.post("/v2/models/iris/infer", json=body)

    def metrics(self) -> dict[str, float]:
        """Series (name and sorted labels, as exposed) -> value."""
        text = self.get("/metrics").text
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    def stop(self) -> int:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def log_text(self) -> str:
        return self.log.read_text()


def command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "modelrollout.cli", "serve", *args]


def start(
    tmp: Path,
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    port: int | None = None,
    cwd: Path | None = None,
) -> Server:
    port = port or free_port()
    log = tmp / f"server-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            command(["--host", "127.0.0.1", "--port", str(port), *args]),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or clean_env(),
            text=True,
            cwd=cwd,
        )
    server = Server(proc, port, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if server.get("/v2/health/ready").status_code == 200:
                return server
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"the server was not ready in {STARTUP_SECONDS}s:\n{log.read_text()}")


@contextlib.contextmanager
def running(tmp: Path, args: Sequence[str], **kw: Any) -> Iterator[Server]:
    server = start(tmp, args, **kw)
    try:
        yield server
    finally:
        server.stop()


def series(name: str, **labels: str) -> str:
    """The exposition key of a series of the iris test server, labels in Prometheus' sorted order."""
    common = {"model": "iris", "namespace": "ml", "track": "canary", "version": "2"}
    merged = {**common, **labels}
    return name + "{" + ",".join(f'{k}="{merged[k]}"' for k in sorted(merged)) + "}"
