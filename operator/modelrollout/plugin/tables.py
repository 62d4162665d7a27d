"""`kubectl model-rollout history` and `list` as tables. Pure: raw objects and the time in, text out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modelrollout import api
from modelrollout.plugin import render, text


def history(obj: Mapping[str, Any], *, now: datetime) -> str:
    """The bounded status.history, oldest first, as `kubectl argo rollouts history` orders it."""
    _, status = render.parse(obj)
    name = (obj.get("metadata") or {}).get("name", "?")
    if not status.history:
        return f"No rollouts recorded yet for {name}; history keeps the last {api.HISTORY_LIMIT}.\n"
    rows = [
        (
            str(i),
            e.version,
            e.outcome.value,
            e.reason,
            e.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            text.since(e.time, now),
            e.message,
        )
        for i, e in enumerate(status.history, start=1)
    ]
    headers = ("#", "VERSION", "OUTCOME", "REASON", "TIME", "AGE", "MESSAGE")
    return text.table(headers, rows) + "\n"


def listing(objs: Sequence[Mapping[str, Any]], *, now: datetime, all_namespaces: bool) -> str:
    """One line per ModelDeployment, like `kubectl get`."""
    if not objs:
        return ""
    rows = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        spec, status = render.parse(obj)
        wanted = spec.model.version if spec is not None else text.NONE
        weight = f"{status.canary_weight}%" if status.canary_version is not None else text.NONE
        created = _timestamp(meta.get("creationTimestamp"))
        row = [
            str(meta.get("name", "?")),
            wanted,
            status.stable_version or text.NONE,
            status.canary_version or text.NONE,
            weight,
            status.phase.value,
            text.since(created, now),
        ]
        rows.append([str(meta.get("namespace", "?")), *row] if all_namespaces else row)
    headers = ["NAME", "VERSION", "STABLE", "CANARY", "WEIGHT", "PHASE", "AGE"]
    return text.table(["NAMESPACE", *headers] if all_namespaces else headers, rows) + "\n"


def _timestamp(raw: Any) -> datetime | None:
    if isinstance(raw, datetime):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
