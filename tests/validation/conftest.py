"""Fixtures for tests that run `model-rollout validate` as a real process on the example models."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# The prefix the example manifests use for the image's copy of examples/ (see examples/README.md).
PLACEHOLDER = "/opt/model-rollout/examples"


@dataclass(frozen=True)
class Run:
    code: int
    report: dict[str, Any]
    verdict_bytes: bytes
    stderr: str

    @property
    def verdict(self) -> dict[str, Any]:
        return json.loads(self.verdict_bytes)

    @property
    def failed(self) -> set[str]:
        return set(self.report["failed"])


@pytest.fixture(scope="session")
def examples_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo models and datasets, made once per session by the real script."""
    out = tmp_path_factory.mktemp("examples")
    subprocess.run(
        [sys.executable, str(EXAMPLES / "make_models.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def _localize() -> Any:
    # The same rewrite users run (examples/localize.py), so the tests exercise it too.
    spec = importlib.util.spec_from_file_location("localize", EXAMPLES / "localize.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.localize


def section(manifest: str, root: Path, key: str) -> Any:
    text = _localize()((EXAMPLES / manifest).read_text(), root)
    assert f"file://{PLACEHOLDER}" not in text
    # An example may hold other objects beside its ModelDeployment (a Gateway's HTTPRoute).
    (doc,) = [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "ModelDeployment"]
    return doc["spec"][key]


def spec_for(manifest: str, root: Path, *, stable: str | None = None) -> dict[str, Any]:
    """The validator's input as the operator builds it: candidate, stable model, validation."""
    return {
        "model": section(manifest, root, "model"),
        "stable": None if stable is None else section(stable, root, "model"),
        "validation": section(manifest, root, "validation"),
    }


def validate(spec: dict[str, Any] | str, tmp_path: Path, *extra: str) -> Run:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    verdict = tmp_path / "termination-log"
    cli = Path(sys.executable).with_name("model-rollout")
    done = subprocess.run(
        [str(cli), "validate", "--spec-file", str(spec_file),
         "--termination-message-path", str(verdict), *extra],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    return Run(
        code=done.returncode,
        report=json.loads(done.stdout),
        verdict_bytes=verdict.read_bytes(),
        stderr=done.stderr,
    )


@pytest.fixture(scope="session")
def run_example(
    examples_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str | None], Run]:
    """Validate an example manifest (against a stable one); each pair runs once per session."""
    runs: dict[tuple[str, str | None], Run] = {}

    def run(manifest: str, stable: str | None) -> Run:
        if (manifest, stable) not in runs:
            where = tmp_path_factory.mktemp(manifest.removesuffix(".yaml"))
            runs[manifest, stable] = validate(
                spec_for(manifest, examples_root, stable=stable), where
            )
        return runs[manifest, stable]

    return run
