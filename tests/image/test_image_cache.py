"""A change to the project's source rebuilds only the image's last layer: the base, the locked
dependencies and the demo models are the very layers of the image already built."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.conftest import REPO, Built, Podman, build

pytestmark = pytest.mark.integration

TAG = "cache-test"
# What build-image.sh reads: the build context (.dockerignore's kept paths) and its own files.
COPIED = ("Dockerfile", ".dockerignore", "requirements", "pyproject.toml", "README.md", "operator",
          "examples/make_models.py", "testbed/build-image.sh", "testbed/image")  # fmt: skip


def _copy(tree: Path) -> None:
    # copy2 and copytree keep modification times, which buildah's layer cache compares for COPY.
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in COPIED:
        source, target = REPO / name, tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, copy_function=shutil.copy2, ignore=ignore)
        else:
            shutil.copy2(source, target)


@pytest.fixture
def changed(built: Built, tmp_path: Path) -> Iterator[tuple[Built, float]]:
    """The image of a copy of the tree whose package version was edited, and its build time."""
    tree = tmp_path / "tree"
    _copy(tree)
    init = tree / "operator" / "modelrollout" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.9.9+'))
    started = time.monotonic()
    result = build(
        env={**os.environ, "MODEL_ROLLOUT_IMAGE_TAG": TAG},
        script=tree / "testbed" / "build-image.sh",
    )
    yield result, time.monotonic() - started
    podman = Podman(built)
    # By id: that drops the keyed name too; the id is this build's alone (its last layer is new).
    image_id = podman("image", "inspect", "--format", "{{.Id}}", result["MODEL_ROLLOUT_IMAGE"])
    podman("rmi", "--force", image_id.stdout.strip(), check=False)
    archives = Path(result["MODEL_ROLLOUT_IMAGE_ARCHIVE"]).parent
    for stale in archives.glob(f"model-rollout-{TAG}*.tar"):
        stale.unlink()


def _layers(podman: Podman, image: str) -> list[str]:
    return list(json.loads(podman("image", "inspect", image).stdout)[0]["RootFS"]["Layers"])


def test_a_source_change_rebuilds_only_the_last_layer(
    built: Built, changed: tuple[Built, float]
) -> None:
    result, seconds = changed
    podman = Podman(built)
    assert result["MODEL_ROLLOUT_IMAGE"] == f"localhost/model-rollout:{TAG}"
    assert result["MODEL_ROLLOUT_IMAGE_ARCHIVE"] != built["MODEL_ROLLOUT_IMAGE_ARCHIVE"]
    before = _layers(podman, built["MODEL_ROLLOUT_IMAGE"])
    after = _layers(podman, result["MODEL_ROLLOUT_IMAGE"])
    assert len(after) == len(before) >= 4  # base, dependencies, demo models, the project
    assert after[:-1] == before[:-1], "a source change rebuilt the base, dependency or model layers"
    assert after[-1] != before[-1]
    assert podman.run(result["MODEL_ROLLOUT_IMAGE"], "--version").strip().startswith("9.9.9+")
    # The dependency install alone takes over a minute; the cached rebuild is a copy and a wheel.
    assert seconds < 60, f"a one-file change took {seconds:.0f} s to rebuild"
