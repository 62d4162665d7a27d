"""A real MLflow tracking server with its Model Registry, for tests of spec.model.source.

MLflow lives in its own venv under the cache (its dependencies are not the project's); `ensure`
installs it once (measured: 89 s on the 2-core machine), `start` runs `mlflow server` on loopback
with a sqlite backend and proxied artifacts under a folder of the caller's, `stop` ends it by pid.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from testbed import paths, procs

VERSION = "3.17.2"
VENV = paths.CACHE / f"mlflow-{VERSION}"
STAMP = VENV / ".installed"
NAME = "mlflow"


def ensure() -> Path:
    """The `mlflow` executable of the cached venv, installing MLflow first when it is missing."""
    exe = VENV / "bin" / "mlflow"
    if STAMP.exists() and exe.exists():
        return exe
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [
            str(VENV / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            f"mlflow=={VERSION}",
        ],
        check=True,
    )
    STAMP.write_text(f"mlflow {VERSION}, installed in {time.monotonic() - started:.0f}s\n")
    return exe


def start(state: Path, *, host: str = "127.0.0.1", timeout: float = 120.0) -> str:
    """Starts `mlflow server` keeping its data in `state`; returns its base URL once it answers.

    `host` is the address it listens on: a real node's own address lets its pods download from it.
    """
    exe = ensure()
    port = procs.free_port()
    url = f"http://{host}:{port}"
    state.mkdir(parents=True, exist_ok=True)
    procs.start(
        name=NAME,
        argv=[
            str(exe),
            "server",
            f"--host={host}",
            f"--port={port}",
            f"--backend-store-uri=sqlite:///{state / 'mlflow.db'}",
            f"--artifacts-destination={state / 'artifacts'}",
            "--serve-artifacts",
            "--workers=1",
        ],
        state=state,
        env={"PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}"},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs.pid_of(name=NAME, state=state) is None:
            log = (state / f"{NAME}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mlflow server exited at start:\n{log}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"mlflow server at {url} did not answer /health within {timeout:.0f}s")


def stop(state: Path) -> None:
    procs.stop(name=NAME, state=state)
