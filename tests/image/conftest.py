"""The image built here by testbed/build-image.sh (cached), loaded from its archive and run by podman.

Every test runs the real image with runc: nothing here imports the project from the venv."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "testbed" / "build-image.sh"
BUILD_SECONDS = 900  # cold: a Debian root filesystem, the locked wheels from PyPI, the demo models


@dataclass(frozen=True)
class Built:
    """What one run of build-image.sh printed: image names, archives, the store podman must use."""

    outputs: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.outputs[key]

    def env(self) -> dict[str, str]:
        keys = ("CONTAINERS_STORAGE_CONF", "CONTAINERS_CONF")
        return {**os.environ, **{k: self.outputs[k] for k in keys}}


def build(*, env: dict[str, str] | None = None, script: Path = BUILD) -> Built:
    done = subprocess.run(
        ["bash", str(script), "all"],
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
        env=env,
    )
    assert done.returncode == 0, f"{script.name} failed:\n{done.stderr[-4000:]}"
    outputs = dict(
        line.split("=", 1) for line in done.stdout.splitlines() if "=" in line and line[0].isupper()
    )
    return Built(outputs)


@pytest.fixture(scope="session")
def built() -> Built:
    return build()


class Podman:
    """podman on the build's own store, with the flags this machine needs (see build-image.sh)."""

    def __init__(self, built: Built) -> None:
        self.env = built.env()
        self.names: list[str] = []

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["podman", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env,
        )
        if check:
            assert done.returncode == 0, f"podman {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    def run(self, image: str, *args: str, flags: Sequence[str] = (), check: bool = True) -> str:
        return self("run", "--rm", "--network", "host", *flags, image, *args, check=check).stdout

    def start(self, image: str, *args: str, flags: Sequence[str] = ()) -> str:
        """A detached container, removed when the test ends."""
        name = f"model-rollout-test-{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        self("run", "--detach", "--name", name, "--network", "host", *flags, image, *args)
        return name

    def remove_all(self) -> None:
        for name in self.names:
            self("rm", "--force", "--time", "5", name, check=False)


@pytest.fixture(scope="session")
def loaded(built: Built) -> Built:
    """The archives, loaded the way a node would take them: from the files, not the build's tags."""
    podman = Podman(built)
    for key in ("MODEL_ROLLOUT_IMAGE_ARCHIVE", "PAUSE_IMAGE_ARCHIVE"):
        podman("load", "--quiet", "--input", built[key])
    return built


@pytest.fixture
def podman(loaded: Built) -> Iterator[Podman]:
    runner = Podman(loaded)
    yield runner
    runner.remove_all()
