"""Comparison with the stable model on the same rows: the candidate may be worse by at most maxDrop.

Pure; the runner scores both models and hands their metrics here.
"""

from __future__ import annotations

from modelrollout.validation import quality, results
from modelrollout.validation.results import CheckResult


def drop(metric: str, *, candidate: float, stable: float) -> float:
    """How much worse the candidate is; negative when it is better. Error metrics count increases."""
    if metric in quality.HIGHER_IS_BETTER:
        return stable - candidate
    return candidate - stable


def check(
    metric: str,
    *,
    candidate: float | None,
    stable: float | None,
    max_drop: float,
    stable_version: str,
) -> CheckResult:
    name = f"compareWithStable.{metric}"
    details = {"candidate": candidate, "stable": stable, "stableVersion": stable_version}
    if candidate is None or stable is None:
        return results.bounded(name, value=None, max=max_drop, details=details)
    value = drop(metric, candidate=candidate, stable=stable)
    outcome = results.bounded(
        name,
        value=value,
        max=max_drop,
        what=f"drop in {metric} from the stable version {stable_version}",
        details=details,
    )
    return CheckResult(
        name=name,
        passed=outcome.passed,
        value=value,
        max=max_drop,
        message=(
            f"{outcome.message} (candidate {results.fmt(candidate)}, stable {results.fmt(stable)})"
        ),
        details=details,
    )
