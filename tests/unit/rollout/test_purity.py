"""The deciding code never reads the clock or the environment: time is an argument."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).parents[3] / "operator" / "modelrollout"
DECIDING = [*sorted((PACKAGE / "rollout").glob("*.py")), PACKAGE / "analysis" / "judge.py"]
# Imports are policed by import-linter; these are the reads an import contract cannot see.
CLOCK = re.compile(r"\.(now|utcnow|today|monotonic|perf_counter)\(|\bos\.environ|\bgetenv\(")


@pytest.mark.parametrize("path", DECIDING, ids=lambda p: p.name)
def test_deciding_code_reads_no_clock_and_no_environment(path: Path) -> None:
    hits = [line for line in path.read_text().splitlines() if CLOCK.search(line)]
    assert hits == [], f"{path.name} reads the clock or environment: {hits}"
