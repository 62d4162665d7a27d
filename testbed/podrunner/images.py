"""Which containers run for real: those whose image repository's basename is a project image."""

from __future__ import annotations

from collections.abc import Collection


def repository_basename(image: str) -> str:
    """`registry:5000/org/model-rollout:1.2@sha256:..` -> `model-rollout`."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    # The tag is whatever follows a colon in the last path part; a registry port lives earlier.
    return last.split(":", 1)[0]


def is_project_image(image: str, names: Collection[str]) -> bool:
    return repository_basename(image) in names
