"""Fixtures for tests that run the model server as a real process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import server as srv

IRIS_ARGS = ("--model-name", "iris", "--model-version", "2", "--track", "canary",
             "--namespace", "ml")  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    srv.iris_model(directory)
    srv.diabetes_model(directory)
    return directory


@pytest.fixture(scope="module")
def iris(model_dir: Path) -> Iterator[srv.Server]:
    """One iris server shared by a module's tests that do not read absolute metric values."""
    uri = f"file://{model_dir}/iris.skops"
    with srv.running(model_dir, ["--model-uri", uri, *IRIS_ARGS, "--max-body-bytes", "4096"]) as s:
        yield s
