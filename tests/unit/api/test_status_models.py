"""Status helpers: conditions keep their transition time, history stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelrollout import api

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_set_condition_keeps_the_transition_time_when_the_status_does_not_flip() -> None:
    first = api.set_condition(
        [], type="Available", status="True", reason="StableReady", message="a", now=T0
    )
    later = T0 + timedelta(minutes=5)
    same = api.set_condition(
        first, type="Available", status="True", reason="StableReady", message="b", now=later
    )
    flipped = api.set_condition(
        same, type="Available", status="False", reason="StableNotReady", message="c", now=later
    )
    assert same[0].last_transition_time == T0
    assert same[0].message == "b"
    assert flipped[0].last_transition_time == later
    assert len(flipped) == 1


def test_history_keeps_only_the_newest_entries() -> None:
    history: list[api.HistoryEntry] = []
    for n in range(api.HISTORY_LIMIT + 5):
        entry = api.HistoryEntry(
            version=str(n), outcome=api.Outcome.PROMOTED, reason="Promoted", time=T0
        )
        history = api.add_history(history, entry)
    assert len(history) == api.HISTORY_LIMIT
    assert history[-1].version == str(api.HISTORY_LIMIT + 4)


def test_status_from_a_newer_operator_with_unknown_fields_still_parses() -> None:
    status = api.ModelDeploymentStatus.model_validate(
        {"phase": "Paused", "canaryWeight": 20, "somethingNew": {"x": 1}}
    )
    assert status.phase is api.Phase.PAUSED
    assert status.phase.is_terminal is False


def test_every_reason_has_a_message_template() -> None:
    assert set(api.catalogue.TEMPLATES) == set(api.Reason)


def test_a_message_with_a_missing_value_still_renders() -> None:
    text = api.message(api.Reason.WEIGHT_SET, step=1, weight=10)
    assert text == "Step 1: version ? gets 10% of traffic."
