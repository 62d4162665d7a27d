"""`kubectl model-rollout status`: a ModelDeployment's spec and status as text, like `argo rollouts get`.

Pure: the object as the API server returns it and the current time in, text out. Called by `main`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pydantic

from modelrollout import api
from modelrollout.plugin import steps, text

# Steps are marked when the rollout stands on them; in other phases the step index is history.
_STEPPING = {api.Phase.PROGRESSING, api.Phase.PAUSED}


class UnreadableError(ValueError):
    """The object's status does not fit this plugin's API models (a newer or older operator)."""


def parse(
    obj: Mapping[str, Any],
) -> tuple[api.ModelDeploymentSpec | None, api.ModelDeploymentStatus]:
    """The spec (None when this plugin cannot read it) and the status of a raw object."""
    try:
        spec = api.ModelDeploymentSpec.model_validate(obj.get("spec") or {})
    except pydantic.ValidationError:
        spec = None
    try:
        status = api.ModelDeploymentStatus.model_validate(obj.get("status") or {})
    except pydantic.ValidationError as e:
        name = (obj.get("metadata") or {}).get("name", "?")
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UnreadableError(
            f"the status of {name} has {where}: {first['msg']}, which this plugin version cannot "
            "read; install the plugin of the operator's version, or use -o yaml"
        ) from e
    return spec, status


def status_view(obj: Mapping[str, Any], *, now: datetime) -> str:
    """The whole `status` screen of one ModelDeployment."""
    meta = obj.get("metadata") or {}
    spec, status = parse(obj)
    sections = [
        _summary(meta, spec, status, now=now),
        steps.section(spec, status, now=now, stepping=status.phase in _STEPPING),
        _validation(status),
        _analysis(spec, status, now=now),
        _conditions(status, now=now),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _summary(
    meta: Mapping[str, Any],
    spec: api.ModelDeploymentSpec | None,
    status: api.ModelDeploymentStatus,
    *,
    now: datetime,
) -> str:
    rows = [
        ("Name", str(meta.get("name", text.NONE))),
        ("Namespace", str(meta.get("namespace", text.NONE))),
        ("Phase", status.phase.value + _since(status, now=now)),
    ]
    if status.message:
        rows.append(("Message", status.message))
    if spec is None:
        rows.append(
            ("Spec", "unreadable by this plugin version; compare it with `model-rollout crd`")
        )
    else:
        rows.append(("Model", f"{spec.model.name}, version {spec.model.version} wanted"))
    rows.append(("Stable", status.stable_version or text.NONE))
    rows.append(("Canary", status.canary_version or text.NONE))
    if status.canary_version is not None:
        rows.append(
            (
                "Weight",
                f"requested {status.canary_weight}%, actual {text.percent(status.actual_canary_weight)}",
            )
        )
    rows.append(("Generation", _generation(meta, status)))
    return "\n".join(text.field(k, v) for k, v in rows)


def _since(status: api.ModelDeploymentStatus, *, now: datetime) -> str:
    parts = [status.pause_reason.value] if status.pause_reason else []
    if status.phase_since is not None:
        parts.append(f"for {text.since(status.phase_since, now)}")
    return f" ({', '.join(parts)})" if parts else ""


def _generation(meta: Mapping[str, Any], status: api.ModelDeploymentStatus) -> str:
    wanted, seen = meta.get("generation"), status.observed_generation
    if meta.get("deletionTimestamp"):
        return f"{wanted}, being deleted since {meta['deletionTimestamp']}"
    if wanted is None or seen == wanted:
        return f"{seen if seen is not None else text.NONE} (up to date)"
    return f"{wanted}, operator has seen {seen if seen is not None else 'none'} (status is behind)"


def _validation(status: api.ModelDeploymentStatus) -> str:
    v = status.validation
    if v is None:
        return ""
    verdict = {None: "running", True: "passed", False: "FAILED"}[v.passed]
    job = f" (Job {v.job})" if v.job else ""
    lines = [text.field("Validation", f"version {v.version} {verdict}{job}")]
    if v.message:
        lines.append(f"  {v.message}")
    if v.metrics:
        rows = [(name, text.number(value)) for name, value in sorted(v.metrics.items())]
        lines.append(text.table(("METRIC", "VALUE"), rows, indent="  "))
    return "\n".join(lines)


def _analysis(
    spec: api.ModelDeploymentSpec | None, status: api.ModelDeploymentStatus, *, now: datetime
) -> str:
    run = status.analysis
    metrics = spec.analysis.metrics if spec is not None and spec.analysis is not None else []
    if run is None and not metrics:
        return ""
    if run is None:
        head = text.field("Analysis", "no run under way")
    else:
        step = f" at step {run.step}" if run.step is not None else ""
        head = text.field(
            "Analysis",
            f"{run.phase.value}{step}, {run.rounds} round(s): {run.successful} successful, "
            f"{run.failed} failed, {run.inconclusive} inconclusive, {run.errors} error(s) "
            f"(run {run.runs})",
        )
    lines = [head]
    if run is not None and run.message and run.message not in status.message:
        lines.append(f"  {run.message}")
    last = {m.metric: m for m in (run.last_measurements if run is not None else [])}
    rows = [_metric_row(m, last.pop(m.name, None), now=now) for m in metrics]
    rows += [_metric_row(None, m, now=now) for m in last.values()]
    if rows:
        headers = ("METRIC", "VALUE", "MIN", "MAX", "VS STABLE", "PHASE", "MEASURED", "MESSAGE")
        lines.append(text.table(headers, rows, indent="  "))
    return "\n".join(lines)


def _metric_row(
    spec: api.MetricSpec | None, measured: api.Measurement | None, *, now: datetime
) -> tuple[str, ...]:
    name = spec.name if spec is not None else measured.metric if measured is not None else "?"
    return (
        name,
        text.number(measured.value) if measured is not None else text.NONE,
        text.number(spec.min) if spec is not None else text.NONE,
        text.number(spec.max) if spec is not None else text.NONE,
        _comparison(spec.compare) if spec is not None else text.NONE,
        measured.phase.value if measured is not None else "NotMeasured",
        text.since(measured.measured_at if measured is not None else None, now),
        text.clip(measured.message) if measured is not None else "",
    )


def _comparison(compare: api.MetricComparison | None) -> str:
    if compare is None:
        return text.NONE
    if compare.max_drop is not None:
        return f"drop<={text.number(compare.max_drop)}"
    if compare.max_increase is not None:
        return f"rise<={text.number(compare.max_increase)}"
    return f"rise<={text.number((compare.max_increase_ratio or 0.0) * 100)}%"


def _conditions(status: api.ModelDeploymentStatus, *, now: datetime) -> str:
    if not status.conditions:
        return ""
    rows = [
        (c.type, c.status, c.reason, text.since(c.last_transition_time, now), text.clip(c.message))
        for c in status.conditions
    ]
    return "Conditions:\n" + text.table(
        ("TYPE", "STATUS", "REASON", "AGE", "MESSAGE"), rows, indent="  "
    )
