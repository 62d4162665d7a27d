"""The kind workflow's steps as .github/scripts/e2e-steps.sh subcommands, in the workflow's order.

Read by the workflow's unit test and by the real-node test that runs the same steps locally.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "e2e.yaml"
SCRIPT = ROOT / ".github" / "scripts" / "e2e-steps.sh"
_CALL = re.compile(r"^\.github/scripts/e2e-steps\.sh (\w+)$")


def workflow_steps() -> list[dict[str, Any]]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return [step for job in jobs.values() for step in job["steps"]]


def script_steps(*, on_failure: bool = False) -> list[str]:
    """The subcommands the workflow runs, in order (diagnostics, run on failure only, when asked)."""
    found = []
    for step in workflow_steps():
        match = _CALL.match(str(step.get("run", "")).strip())
        if match and ("if" in step) == on_failure:
            found.append(match.group(1))
    return found
