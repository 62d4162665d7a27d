"""The full JSON report (stdout) and the compact verdict (the pod's termination message).

The verdict is api.ValidationVerdict, the model the operator reads it back with (controller/observe).

Kubernetes keeps at most 4096 bytes of a termination message, so the verdict is shrunk step by
step until it fits: long messages first, then extra failed checks, then metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from modelrollout import api
from modelrollout.validation.results import CheckResult

TERMINATION_MESSAGE_LIMIT = 4096
EXIT_CODES = {"passed": 0, "failed": 1, "error": 2}


def summary(outcome: str, *, checks: Sequence[CheckResult], subject: str, error: str) -> str:
    failed = [c for c in checks if not c.passed]
    if outcome == "error":
        return f"{subject} could not be validated: {error}"
    if outcome == "passed":
        return f"{subject} passed all {len(checks)} checks"
    listed = "; ".join(f"{c.name}: {c.message}" for c in failed)
    return f"{subject} failed {len(failed)} of {len(checks)} checks: {listed}"


def report(
    *,
    checks: Sequence[CheckResult],
    error: str | None = None,
    subject: str,
    context: dict[str, Any],
) -> dict[str, Any]:
    """The whole story: every check with its value and bounds, plus what was measured on what."""
    if error is not None:
        outcome = "error"
    else:
        outcome = "passed" if all(c.passed for c in checks) else "failed"
    full = {
        "outcome": outcome,
        "exitCode": EXIT_CODES[outcome],
        "message": summary(outcome, checks=checks, subject=subject, error=error or ""),
        "failed": [c.name for c in checks if not c.passed],
        **context,
        "checks": [c.to_json() for c in checks],
    }
    finite: dict[str, Any] = _finite(full)
    return finite


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: a figure that could not be measured is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _failed_entry(check: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "value", "min", "max", "message")
    return {k: check[k] for k in keep if k in check}


def _encode(doc: dict[str, Any]) -> bytes:
    # Shrunk as a plain dict, measured as the model writes it, so what fits is what is written.
    return api.ValidationVerdict.model_validate(doc).wire()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def _rounded(metrics: dict[str, Any]) -> dict[str, Any]:
    # Six significant digits tell 0.983333 from 0.98 and save a third of the bytes.
    return {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in metrics.items()}


Shrink = Callable[[dict[str, Any]], None]


def _cut_message(size: int) -> Shrink:
    def shrink(doc: dict[str, Any]) -> None:
        doc["message"] = _cut(doc["message"], size)

    return shrink


def _cut_check_messages(size: int) -> Shrink:
    def shrink(doc: dict[str, Any]) -> None:
        for entry in doc["failed"]:
            if "message" in entry:
                entry["message"] = _cut(entry["message"], size)

    return shrink


def _drop_detail(doc: dict[str, Any]) -> None:
    for entry in doc["failed"]:
        entry.pop("message", None)
    doc["metrics"] = {}


def compact(full: dict[str, Any], *, limit: int = TERMINATION_MESSAGE_LIMIT) -> bytes:
    """The verdict the operator reads from the pod status, strictly under `limit` bytes."""
    failed = [_failed_entry(c) for c in full.get("checks", []) if not c["passed"]]
    doc: dict[str, Any] = api.ValidationVerdict(
        outcome=full["outcome"],
        passed=full["outcome"] == "passed",
        message=full["message"],
        failed=[api.FailedCheck.model_validate(f) for f in failed],
        metrics=_rounded(full.get("metrics", {})),
    ).model_dump(by_alias=True, exclude_none=True)
    # Each step gives up less useful detail than the one after it.
    for shrink in (_cut_message(1024), _cut_check_messages(160), _cut_message(300), _drop_detail):
        if len(_encode(doc)) < limit:
            return _encode(doc)
        shrink(doc)
    # Many failed checks: keep as many as fit, and say how many were left out.
    while len(_encode(doc)) >= limit and doc["failed"]:
        doc["failed"].pop()
        doc["failedOmitted"] = len(failed) - len(doc["failed"])
    if len(_encode(doc)) >= limit:
        doc["message"] = _cut(doc["message"], 100)
    return _encode(doc)
