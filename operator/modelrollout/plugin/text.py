"""Small pure text helpers of the plugin: kubectl-style ages, numbers and aligned tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

NONE = "-"
GAP = "   "  # kubectl separates columns by three spaces
LABEL_WIDTH = 13  # "Generation:" and a gap: every section's first line lines up with the summary


def age(delta: timedelta) -> str:
    """kubectl's short age: `45s`, `3m12s`, `2h5m`, `3d4h`; a future time reads as `0s`."""
    seconds = max(int(delta.total_seconds()), 0)
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if days:
        return f"{days}d{hrs}h" if hrs and days < 10 else f"{days}d"
    if hours:
        return f"{hours}h{mins}m" if mins and hours < 10 else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


def since(when: datetime | None, now: datetime) -> str:
    return NONE if when is None else age(now - when)


def number(value: float | None) -> str:
    """Up to four significant digits, no exponent for everyday magnitudes; `-` for none."""
    if value is None:
        return NONE
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def percent(value: float | None) -> str:
    return NONE if value is None else f"{number(round(value, 1))}%"


# Measurement and condition messages can hold whole PromQL queries; a table row shows their start
# and `-o yaml` shows them whole.
CLIP = 120


def clip(message: str, width: int = CLIP) -> str:
    """One line of at most `width` characters, ending in `...` when cut."""
    flat = " ".join(message.split())
    return flat if len(flat) <= width else flat[: width - 3].rstrip() + "..."


def field(label: str, value: str) -> str:
    """A `Label:  value` line, the value column shared by the whole status screen."""
    return f"{label}:".ljust(LABEL_WIDTH) + value


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, indent: str = "") -> str:
    """Left-aligned columns like `kubectl get`; the last column is never padded."""
    cells = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)] + [row[-1]]
        lines.append((indent + GAP.join(padded)).rstrip())
    return "\n".join(lines)
