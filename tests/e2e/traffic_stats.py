"""What the traffic generator saw: one `Sample` per request, and `summarize` to count them.

Pure: samples in, counts per version, status code and time window out. Used by `traffic`.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

Endpoint = tuple[str, int]


@dataclass(frozen=True)
class Sample:
    """One inference request as the client saw it."""

    at: float
    """Wall-clock time (epoch seconds) the request was sent."""
    endpoint: Endpoint | None
    code: int
    """HTTP status; 0 when no response came (refused, reset, timed out, no ready endpoint)."""
    version: str | None = None
    """`model_version` of the response."""
    seconds: float = 0.0
    feedback: int | None = None
    """HTTP status of the feedback sent for this request; None when none was sent."""
    error: str = ""


@dataclass(frozen=True)
class Window:
    start: float
    by_version: Mapping[str, int]
    by_code: Mapping[int, int]


@dataclass(frozen=True)
class Stats:
    total: int
    by_version: Mapping[str, int]
    by_code: Mapping[int, int]
    feedback_by_code: Mapping[int, int]
    errors: Mapping[str, int]
    seen: Mapping[str, tuple[float, float]]
    """Version -> (first, last) time it answered."""
    windows: tuple[Window, ...] = field(default_factory=tuple)

    def share(self, version: str) -> float:
        """Fraction of all requests (failed ones included) that `version` answered."""
        return self.by_version.get(version, 0) / self.total if self.total else 0.0


def _epoch(t: float | datetime | None) -> float | None:
    return t.timestamp() if isinstance(t, datetime) else t


def summarize(
    samples: Sequence[Sample],
    *,
    since: float | datetime | None = None,
    until: float | datetime | None = None,
    window_s: float = 5.0,
) -> Stats:
    """Counts of the samples sent in [since, until), overall and per window of `window_s`."""
    lo, hi = _epoch(since), _epoch(until)
    picked = [s for s in samples if (lo is None or s.at >= lo) and (hi is None or s.at < hi)]
    seen: dict[str, tuple[float, float]] = {}
    windows: dict[int, tuple[collections.Counter[str], collections.Counter[int]]] = {}
    # Requests in flight at once finish out of order: nothing here relies on the order.
    origin = lo if lo is not None else min((s.at for s in picked), default=0.0)
    for s in picked:
        versions, codes = windows.setdefault(
            int((s.at - origin) // window_s), (collections.Counter(), collections.Counter())
        )
        codes[s.code] += 1
        if s.version is not None:
            versions[s.version] += 1
            first, last = seen.get(s.version, (s.at, s.at))
            seen[s.version] = (min(first, s.at), max(last, s.at))
    return Stats(
        total=len(picked),
        by_version=collections.Counter(s.version for s in picked if s.version is not None),
        by_code=collections.Counter(s.code for s in picked),
        feedback_by_code=collections.Counter(s.feedback for s in picked if s.feedback is not None),
        errors=collections.Counter(s.error for s in picked if s.error),
        seen=seen,
        windows=tuple(
            Window(start=origin + i * window_s, by_version=v, by_code=c)
            for i, (v, c) in sorted(windows.items())
        ),
    )
