"""Fill spec.model's version and uri from spec.model.source before a turn reads the spec.

Called by reconcile. The pick and why go into status.source, and a new pick into history, so
a restarted operator and a person both see where a version came from. A source that cannot be
read keeps the version it last gave; one that never answered yet holds the turn.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from modelrollout import api
from modelrollout.sources import pick


class SourceUnavailableError(Exception):
    """The source has never given a version and could not be read now: nothing to serve yet."""

    def __init__(self, message: str, *, retry: timedelta) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Resolved:
    spec: dict[str, Any]
    """spec with model.version and model.uri filled in and model.source taken off."""
    status: api.ModelDeploymentStatus
    """status with status.source (and history, on a new pick) brought up to date."""
    poll: timedelta | None
    """How soon to look at the source again; None without a source."""
    picked: str | None = None
    """A message for an event when this turn picked a new version."""


def resolve(
    raw_spec: dict[str, Any],
    *,
    status: api.ModelDeploymentStatus,
    http: httpx.Client,
    now: datetime,
) -> Resolved:
    """Raises pydantic.ValidationError for a malformed source, SourceUnavailableError while none is known."""
    model = raw_spec.get("model") or {}
    if "source" not in model:
        return Resolved(spec=raw_spec, status=status, poll=None)
    source = api.ModelSource.model_validate(model["source"])
    poll = api.parse_duration(source.poll_interval)
    previous = (
        status.source if status.source is not None and status.source.kind == source.kind else None
    )
    try:
        found = pick.pick(source, http=http)
    except pick.SourceError as e:
        if previous is None:
            raise SourceUnavailableError(
                f"{pick.describe(source)} gives no version yet: {e}", retry=poll
            ) from e
        current = previous.model_copy(update={"error": str(e)[:1000]})
        return Resolved(spec=_filled(raw_spec, current), status=_with(status, current), poll=poll)
    changed = previous is None or (previous.version, previous.uri) != (found.version, found.uri)
    current = api.SourceStatus(
        kind=source.kind,
        version=found.version,
        uri=found.uri,
        reason=found.reason,
        picked_at=now if changed or previous is None else previous.picked_at,
        checked_at=now,
    )
    if not changed:
        return Resolved(spec=_filled(raw_spec, current), status=_with(status, current), poll=poll)
    text = api.message(
        api.Reason.SOURCE_PICKED,
        source=pick.describe(source),
        version=found.version,
        why=found.reason,
        previous=f"version {previous.version}" if previous is not None else "nothing (first pick)",
    )
    entry = api.HistoryEntry(
        version=found.version,
        outcome=api.Outcome.SELECTED,
        reason=api.Reason.SOURCE_PICKED,
        message=text,
        time=now,
    )
    new_status = _with(status, current).model_copy(
        update={"history": api.add_history(status.history, entry)}
    )
    return Resolved(spec=_filled(raw_spec, current), status=new_status, poll=poll, picked=text)


def _with(status: api.ModelDeploymentStatus, source: api.SourceStatus) -> api.ModelDeploymentStatus:
    return status.model_copy(update={"source": source})


def _filled(raw_spec: dict[str, Any], source: api.SourceStatus) -> dict[str, Any]:
    spec = copy.deepcopy(raw_spec)
    model = spec["model"]
    del model["source"]
    model["version"], model["uri"] = source.version, source.uri
    return spec
