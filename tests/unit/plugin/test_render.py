"""The status screen, history and list tables, as pure functions of the object and the time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelrollout import api
from modelrollout.plugin import render, steps, tables, text
from tests.unit.plugin import objects as o

pytestmark = pytest.mark.unit


def _line(screen: str, start: str) -> str:
    found = [line for line in screen.splitlines() if line.strip().startswith(start)]
    assert len(found) == 1, f"expected one line starting {start!r} in:\n{screen}"
    return found[0]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (-5, "0s"),
        (45, "45s"),
        (60, "1m"),
        (192, "3m12s"),
        (600, "10m"),
        (725, "12m"),
        (7500, "2h5m"),
        (36_000, "10h"),
        (3 * 86_400 + 4 * 3600, "3d4h"),
        (12 * 86_400 + 3600, "12d"),
    ],
)
def test_ages_read_like_kubectl(seconds: int, shown: str) -> None:
    assert text.age(timedelta(seconds=seconds)) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        (0.0, "0"),
        (50.0, "50"),
        (0.95312, "0.9531"),
        (1234.5678, "1235"),
        (1e-4, "0.0001"),
    ],
)
def test_numbers_keep_four_significant_digits(value: float | None, shown: str) -> None:
    assert text.number(value) == shown


def test_tables_align_columns_and_leave_the_last_one_ragged() -> None:
    out = text.table(("A", "LONGER"), [("xyz", "1"), ("k", "22")])
    assert out.splitlines() == ["A     LONGER", "xyz   1", "k     22"]


@pytest.mark.parametrize(
    ("step", "said"),
    [
        ({"setWeight": 20}, "setWeight 20%"),
        ({"pause": {"duration": "30s"}}, "pause 30s"),
        ({"pause": {}}, "pause until promoted"),
        ({"analysis": {}}, "analysis 3 rounds every 30s"),
        ({"analysis": {"count": 1}}, "analysis 1 round every 30s"),
    ],
)
def test_each_kind_of_step_is_said_in_words(step: dict[str, object], said: str) -> None:
    spec = api.ModelDeploymentSpec.model_validate(o.SPEC)
    assert steps.describe(api.Step.model_validate(step), spec) == said


def test_a_paused_rollout_marks_done_steps_and_the_one_waiting_for_a_person() -> None:
    screen = render.status_view(o.md(), now=o.NOW)
    assert _line(screen, "[x]  3").endswith("setWeight 50%")
    assert "waiting for `kubectl model-rollout promote`" in _line(screen, "[>]  4")
    assert _line(screen, "[ ]  5").endswith("analysis 1 round every 30s")
    assert screen.count("[>]") == 1
    assert _line(screen, "Steps:").endswith("4/6 done")
    assert _line(screen, "Phase:").endswith("Paused (ManualPause, for 1m15s)")


def test_the_summary_shows_versions_and_requested_beside_actual_weight() -> None:
    screen = render.status_view(o.md(), now=o.NOW)
    assert _line(screen, "Stable:").endswith(" 1")
    assert _line(screen, "Canary:").endswith(" 2")
    assert _line(screen, "Weight:").endswith("requested 50%, actual 42.9%")
    assert _line(screen, "Message:").endswith("promote iris` to go on.")


def test_each_metric_is_shown_against_its_threshold_with_its_last_measurement() -> None:
    screen = render.status_view(o.md(), now=o.NOW)
    assert _line(screen, "accuracy         0.953").split() == [
        "accuracy", "0.953", "0.9", "-", "drop<=0.02", "Successful", "2m10s",
    ]  # fmt: skip
    assert _line(screen, "latency_p99_ms   -").split() == [
        "latency_p99_ms", "-", "-", "50", "-", "Inconclusive", "2m10s", "no", "data", "yet",
    ]  # fmt: skip
    assert _line(screen, "error_rate").split() == [
        "error_rate", "-", "-", "0.01", "-", "NotMeasured", "-",
    ]  # fmt: skip


def test_a_timed_pause_says_how_long_is_left() -> None:
    obj = o.md(currentStep=1, phase="Progressing", pauseReason=None, stepStartedAt=o.ts(12))
    screen = render.status_view(obj, now=o.NOW)
    assert _line(screen, "[>]  1").endswith("pause 30s   <- 18s left")


def test_the_validation_result_shows_its_verdict_message_and_metrics() -> None:
    failed = dict(o.PAUSED_STATUS["validation"], passed=False, message="accuracy 0.61 < 0.9")
    screen = render.status_view(o.md(validation=failed), now=o.NOW)
    assert _line(screen, "Validation:").endswith("version 2 FAILED (Job iris-validate-2)")
    assert "accuracy 0.61 < 0.9" in screen
    assert _line(screen, "latency_p99_ms   1.25").split() == ["latency_p99_ms", "1.25"]


def test_conditions_list_type_status_reason_age_and_message() -> None:
    screen = render.status_view(o.md(), now=o.NOW)
    assert _line(screen, "Available").split()[:4] == ["Available", "True", "StableReady", "1h"]


def test_a_healthy_deployment_marks_no_step_and_shows_no_weight() -> None:
    screen = render.status_view(o.healthy(), now=o.NOW)
    assert "[>]" not in screen
    assert "[x]" not in screen
    assert "Weight:" not in screen
    assert _line(screen, "Steps:").endswith("6, no rollout under way")
    assert _line(screen, "Analysis:").endswith("no run under way")


def test_a_status_the_operator_has_not_caught_up_with_says_so() -> None:
    screen = render.status_view(o.healthy(generation=4, observed=3), now=o.NOW)
    assert _line(screen, "Generation:").endswith("4, operator has seen 3 (status is behind)")


def test_a_brand_new_object_without_status_renders_as_pending() -> None:
    obj = o.md()
    del obj["status"]
    screen = render.status_view(obj, now=o.NOW)
    assert _line(screen, "Phase:").endswith("Pending")
    assert "operator has seen none" in screen


def test_a_spec_this_plugin_cannot_read_still_shows_the_status() -> None:
    obj = o.md(spec={"model": {"name": "iris", "version": "2", "uri": "x", "future": 1}})
    screen = render.status_view(obj, now=o.NOW)
    assert "unreadable by this plugin version" in _line(screen, "Spec:")
    assert _line(screen, "Canary:").endswith(" 2")
    assert "Steps:" not in screen


def test_history_lists_outcomes_oldest_first_with_time_and_age() -> None:
    history = [
        {"version": "1", "outcome": "Promoted", "reason": "Promoted", "time": o.ts(7200)},
        {
            "version": "2",
            "outcome": "RolledBack",
            "reason": "AnalysisFailed",
            "message": "accuracy 0.71 < 0.9",
            "time": o.ts(300),
        },
    ]
    rows = tables.history(o.md(history=history), now=o.NOW).splitlines()
    assert rows[0].split() == ["#", "VERSION", "OUTCOME", "REASON", "TIME", "AGE", "MESSAGE"]
    assert rows[1].split()[:6] == ["1", "1", "Promoted", "Promoted", "2026-11-23T10:00:00Z", "2h"]
    assert rows[2].split() == [
        "2", "2", "RolledBack", "AnalysisFailed", "2026-11-23T11:55:00Z", "5m", "accuracy", "0.71", "<", "0.9",
    ]  # fmt: skip


def test_an_empty_history_says_so_and_how_much_is_kept() -> None:
    out = tables.history(o.md(history=[]), now=o.NOW)
    assert out == "No rollouts recorded yet for iris; history keeps the last 10.\n"


@pytest.mark.parametrize("all_namespaces", [False, True])
def test_the_list_has_one_row_per_deployment(all_namespaces: bool) -> None:
    objs = [o.md(), o.healthy(name="cancer", namespace="other")]
    rows = [
        r.split()
        for r in tables.listing(objs, now=o.NOW, all_namespaces=all_namespaces).splitlines()
    ]
    prefix = [["NAMESPACE"], ["ml"], ["other"]] if all_namespaces else [[], [], []]
    assert rows == [
        [*prefix[0], "NAME", "VERSION", "STABLE", "CANARY", "WEIGHT", "PHASE", "AGE"],
        [*prefix[1], "iris", "2", "1", "2", "50%", "Paused", "1d1h"],
        [*prefix[2], "cancer", "2", "1", "-", "-", "Healthy", "1d1h"],
    ]


def test_long_messages_are_clipped_in_tables_and_not_repeated() -> None:
    query = "sum(increase(model_feedback_total{outcome='correct'}[30s])) " * 5
    long = f"Step 2: analysis round 1/3. accuracy Inconclusive (no data yet; query: {query})"
    measurements = [
        {"metric": "accuracy", "phase": "Inconclusive", "message": f"no data yet; query: {query}",
         "measuredAt": o.ts(5)},
    ]  # fmt: skip
    analysis = dict(o.PAUSED_STATUS["analysis"], message=long, lastMeasurements=measurements)
    conditions = [dict(o.PAUSED_STATUS["conditions"][0], message=long)]
    obj = o.md(message=long, analysis=analysis, conditions=conditions)
    screen = render.status_view(obj, now=o.NOW)
    assert screen.count(long) == 1  # once, whole, as the Message
    row = _line(screen, "accuracy         -")
    assert row.endswith("...")
    assert len(row.split("   ")[-1].strip()) <= text.CLIP
    assert _line(screen, "Available").endswith("...")


def test_an_object_being_deleted_says_so() -> None:
    obj = o.healthy(generation=4)
    obj["metadata"]["deletionTimestamp"] = "2026-11-23T11:59:00Z"
    screen = render.status_view(obj, now=o.NOW)
    assert _line(screen, "Generation:").endswith("4, being deleted since 2026-11-23T11:59:00Z")


@pytest.mark.parametrize(
    ("message", "clipped"),
    [("short", "short"), ("a  b\n c", "a b c"), ("x" * 130, "x" * 117 + "...")],
)
def test_clip_keeps_one_line_of_at_most_the_width(message: str, clipped: str) -> None:
    assert text.clip(message) == clipped
