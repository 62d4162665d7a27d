"""The outcome of one check, and the rule that turns a value and its bounds into one.

Every check family returns `CheckResult`s; `verdict` summarises them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


class CouldNotRun(Exception):  # noqa: N818 - it is an outcome (exit 2), not a bug
    """Validation cannot judge the model: missing data, a model that won't load, a bad spec."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    """Dotted name: family, then what was measured (`quality.accuracy`, `data.drift.age`)."""
    passed: bool
    value: float | None = None
    min: float | None = None
    max: float | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "passed": self.passed}
        for key in ("value", "min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["message"] = self.message
        if self.details:
            out["details"] = self.details
        return out


def fmt(value: float | None) -> str:
    """Numbers in messages: short, but never rounded across a threshold."""
    if value is None:
        return "n/a"
    return f"{value:.6g}"


def bounded(
    name: str,
    *,
    value: float | None,
    min: float | None = None,
    max: float | None = None,
    what: str | None = None,
    details: dict[str, Any] | None = None,
) -> CheckResult:
    """Pass when `value` lies within [min, max]; a value that could not be measured fails."""
    label = what or name
    if value is None or math.isnan(value):
        return CheckResult(
            name=name,
            passed=False,
            min=min,
            max=max,
            message=f"{label} could not be measured on this dataset",
            details=details or {},
        )
    problems = []
    if min is not None and value < min:
        problems.append(f"below the minimum {fmt(min)}")
    if max is not None and value > max:
        problems.append(f"above the maximum {fmt(max)}")
    if problems:
        message = f"{label} is {fmt(value)}, {' and '.join(problems)}"
    else:
        limits = []
        if min is not None:
            limits.append(f">= {fmt(min)}")
        if max is not None:
            limits.append(f"<= {fmt(max)}")
        message = f"{label} is {fmt(value)} ({', '.join(limits) or 'no bound'})"
    return CheckResult(
        name=name,
        passed=not problems,
        value=value,
        min=min,
        max=max,
        message=message,
        details=details or {},
    )
