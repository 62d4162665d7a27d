"""Manual requests as the operator reads them: the annotation `modelrollout.io/<kind>: <token>`.

Pure. A fresh token per request, because the operator acts on each token once (see
`rollout.observation.Request`); a timestamp with microseconds never repeats by accident.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelrollout.api import GROUP, Phase
from modelrollout.rollout.observation import Request

_ACTIVE = {Phase.VALIDATING, Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING, Phase.ROLLING_BACK}
# When the operator will act on a request; it ignores it otherwise (with a Warning event). This
# mirrors the rollout brain and only serves to warn a person before they wait for nothing.
APPLIES: dict[Request, frozenset[Phase]] = {
    Request.PROMOTE: frozenset({Phase.PAUSED}),
    Request.PROMOTE_FULL: frozenset({Phase.PROGRESSING, Phase.PAUSED}),
    Request.ABORT: frozenset(_ACTIVE - {Phase.ROLLING_BACK}),
    Request.RETRY: frozenset({Phase.PAUSED, Phase.ROLLED_BACK, Phase.FAILED}),
}


def annotation(kind: Request) -> str:
    return f"{GROUP}/{kind.value}"


def token(now: datetime) -> str:
    """An ISO 8601 UTC timestamp with microseconds, e.g. 2026-01-02T03:04:05.123456Z."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def patch(kind: Request, token: str) -> dict[str, Any]:
    """The JSON merge patch that files the request without touching other annotations."""
    return {"metadata": {"annotations": {annotation(kind): token}}}


def warning(kind: Request, *, phase: Phase, name: str) -> str | None:
    """A line telling the person the operator will ignore this request now, or None."""
    if phase in APPLIES[kind]:
        return None
    wanted = ", ".join(sorted(p.value for p in APPLIES[kind]))
    return (
        f"warning: {name} is {phase.value}; the operator acts on {kind.value} only while "
        f"{wanted}, so it will ignore this request (a Warning event says so)"
    )
