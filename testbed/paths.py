"""Where the test bed keeps its binaries and per-cluster state (outside the repository)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MODEL_ROLLOUT_CACHE", Path.home() / ".cache" / "model-rollout"))
BIN = CACHE / "bin"
DEFAULT_CLUSTER = os.environ.get("MODEL_ROLLOUT_TESTBED", "model-rollout")
# The venv whose `model-rollout` the tests start as the operator on the host (and its tools).
VENV_BIN = Path(sys.executable).parent


def state_dir(cluster: str) -> Path:
    return CACHE / "clusters" / cluster


def kwok_dir(cluster: str) -> Path:
    return Path.home() / ".kwok" / "clusters" / cluster


def kubeconfig(cluster: str) -> Path:
    return kwok_dir(cluster) / "kubeconfig.yaml"


def binary(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: build the test bed's binaries first with `bash testbed/build-binaries.sh`"
        )
    return path
