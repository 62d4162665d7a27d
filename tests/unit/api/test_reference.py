"""docs/reference.md is generated from the API models; it must never drift from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrollout.api import reference

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]


def test_the_checked_in_reference_matches_the_api_models() -> None:
    assert (REPO / "docs" / "reference.md").read_text() == reference.render(), (
        "docs/reference.md is out of date: run `model-rollout reference > docs/reference.md`"
    )


def test_the_reference_documents_every_spec_section_with_its_rules() -> None:
    text = reference.render()
    for section in (
        "spec.model",
        "spec.serving",
        "spec.validation",
        "spec.rollout.steps[]",
        "spec.analysis",
        "status.history[]",
    ):
        assert f"## `{section}`" in text
    assert "each step sets exactly one of setWeight, pause, analysis or shadow" in text
    assert "a ModelDeployment name may be at most 56 characters" in text
    assert "a pause must last more than zero" in text
