"""Typed failures of a model source: what was asked, of whom, and what to do."""

from __future__ import annotations

from dataclasses import dataclass


class SourceError(Exception):
    """The source could not say which version to serve; the message says why and what to do."""


@dataclass(frozen=True)
class Pick:
    """What a source gives: a version, where its artifact is, and why this one."""

    version: str
    uri: str
    reason: str
