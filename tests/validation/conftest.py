"""Fixtures for tests that run `model-rollout validate` as a real process on the example models."""

from __future__ import annotations

import json
import subprocess
import sys
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


def section(manifest: str, root: Path, key: str) -> Any:
    text = (EXAMPLES / manifest).read_text().replace(PLACEHOLDER, str(root))
    return yaml.safe_load(text)["spec"][key]


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
