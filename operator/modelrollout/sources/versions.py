"""The ordering rule for versions named by folders: dot-separated numbers, compared number by number.

Pure: names in, the highest one out. `1.10` is above `1.9` (numbers, not text); `3` equals
`3.0` only in rank, so the tie goes to the longer name, which is stable across listings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Also a valid Kubernetes label value (the version ends up in pod labels): at most 63 characters.
VERSION_PATTERN = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,9}){0,6}$")
RULE = "highest version by dot-separated numbers (1.10 > 1.9); other names are passed over"


def key(name: str) -> tuple[tuple[int, ...], int] | None:
    """The sort key of a version name, or None when the name is not a version by this rule."""
    if VERSION_PATTERN.fullmatch(name) is None:
        return None
    numbers = tuple(int(part) for part in name.split("."))
    trimmed = numbers
    while len(trimmed) > 1 and trimmed[-1] == 0:
        trimmed = trimmed[:-1]
    return trimmed, len(numbers)


def highest(names: Iterable[str]) -> str | None:
    """The highest version among `names` by the rule, or None when none is a version."""
    ranked = [(k, name) for name in names if (k := key(name)) is not None]
    return max(ranked)[1] if ranked else None
