"""The Gateway player's rule matching (tests/e2e/gateway_player.py): PathPrefix as the Gateway API
defines it, and the default match of a rule that gives none."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import gateway_player

pytestmark = pytest.mark.unit


def route(*prefixes: str | None) -> dict[str, Any]:
    rules = [
        {} if p is None else {"matches": [{"path": {"type": "PathPrefix", "value": p}}]}
        for p in prefixes
    ]
    return {"spec": {"rules": rules}}


@pytest.mark.parametrize(
    ("prefixes", "path", "index"),
    [
        ((None,), "/v2/models/iris/infer", 0),  # no matches: PathPrefix "/"
        (("/v2/models/iris",), "/v2/models/iris/feedback", 0),
        (("/v2/models/iris",), "/v2/models/iris", 0),
        (("/v2/models/iris",), "/v2/models/irises/infer", None),  # a prefix of path elements
        (("/docs", "/"), "/v2/models/iris/infer", 1),
        (("/docs",), "/v2/models/iris/infer", None),
    ],
)
def test_the_first_rule_whose_path_prefix_takes_the_path_serves_it(
    prefixes: tuple[str | None, ...], path: str, index: int | None
) -> None:
    found = gateway_player._rule_for(route(*prefixes), path)
    assert (None if found is None else found[0]) == index


def test_a_match_type_the_player_cannot_apply_is_an_error_not_a_guess() -> None:
    doc = {
        "spec": {"rules": [{"matches": [{"path": {"type": "RegularExpression", "value": "."}}]}]}
    }
    with pytest.raises(ValueError, match="PathPrefix matches only"):
        gateway_player._rule_for(doc, "/x")
