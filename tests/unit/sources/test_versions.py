"""The folder ordering rule: dot-separated numbers compared number by number; other names passed over."""

from __future__ import annotations

import pytest

from modelrollout.sources import versions

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["1", "2", "10"], "10"),  # numbers, not text: "10" > "2"
        (["1.9", "1.10"], "1.10"),
        (["1.2.0", "1.2"], "1.2.0"),  # equal in rank: the longer name, whatever the listing order
        (["1.2", "1.2.0"], "1.2.0"),
        (["3", "latest", "v4", "tmp-5", ".4"], "3"),  # names that are not versions are passed over
        (["2024.11.03", "2024.2.1"], "2024.11.03"),
        (["latest", "README"], None),
        ([], None),
    ],
)
def test_the_highest_version_is_picked_by_numbers(names: list[str], expected: str | None) -> None:
    assert versions.highest(names) == expected


@pytest.mark.parametrize("name", ["", "1.", "1..2", "-1", "1.2.3.4.5.6.7.8", "1234567890", "1 2"])
def test_names_that_are_not_versions_have_no_key(name: str) -> None:
    assert versions.key(name) is None
