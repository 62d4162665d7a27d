"""spec.model.source filled in before a turn: the pick and why in status and history, a failed look
keeping the version it last gave, and no version at all holding the turn."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelrollout import api
from modelrollout.controller import sourcing

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def http() -> httpx.Client:
    # A folder source makes no HTTP call; a transport that refuses any proves it.
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected HTTP call {request.url}")

    return httpx.Client(transport=httpx.MockTransport(refuse))


def _spec(root: Path) -> dict[str, Any]:
    return {
        "model": {"name": "iris", "source": {"directory": {"uri": root.as_uri() + "/"}}},
        "serving": {"replicas": 2},
    }


def _add(root: Path, version: str) -> None:
    (root / version).mkdir(parents=True)
    (root / version / "model.skops").write_bytes(b"m")


def test_without_a_source_the_spec_is_untouched(http: httpx.Client) -> None:
    raw = {"model": {"name": "iris", "version": "1", "uri": "file:///m"}}
    out = sourcing.resolve(raw, status=api.ModelDeploymentStatus(), http=http, now=T0)
    assert out.spec is raw
    assert out.poll is None
    assert out.status.source is None


def test_a_first_pick_fills_version_and_uri_and_says_why_in_status_and_history(
    tmp_path: Path, http: httpx.Client
) -> None:
    _add(tmp_path, "1")
    _add(tmp_path, "2")
    out = sourcing.resolve(_spec(tmp_path), status=api.ModelDeploymentStatus(), http=http, now=T0)
    spec = api.ModelDeploymentSpec.model_validate(out.spec)
    assert (spec.model.version, spec.model.uri) == ("2", (tmp_path / "2" / "model.skops").as_uri())
    assert spec.model.source is None
    assert out.status.source is not None
    assert out.status.source.version == "2"
    assert "highest version" in out.status.source.reason
    assert [(h.version, h.outcome) for h in out.status.history] == [("2", api.Outcome.SELECTED)]
    assert out.picked is not None
    assert "first pick" in out.picked
    assert out.poll == timedelta(seconds=30)


def test_the_same_pick_again_adds_no_history_and_keeps_when_it_was_picked(
    tmp_path: Path, http: httpx.Client
) -> None:
    _add(tmp_path, "1")
    first = sourcing.resolve(_spec(tmp_path), status=api.ModelDeploymentStatus(), http=http, now=T0)
    later = T0 + timedelta(minutes=5)
    again = sourcing.resolve(_spec(tmp_path), status=first.status, http=http, now=later)
    assert again.picked is None
    assert len(again.status.history) == 1
    assert again.status.source is not None
    assert (again.status.source.picked_at, again.status.source.checked_at) == (T0, later)


def test_a_new_version_in_the_source_is_a_new_pick_naming_the_one_it_replaces(
    tmp_path: Path, http: httpx.Client
) -> None:
    _add(tmp_path, "1")
    first = sourcing.resolve(_spec(tmp_path), status=api.ModelDeploymentStatus(), http=http, now=T0)
    _add(tmp_path, "1.1")
    out = sourcing.resolve(_spec(tmp_path), status=first.status, http=http, now=T0)
    assert out.spec["model"]["version"] == "1.1"
    assert out.picked is not None
    assert "replaces version 1" in out.picked
    assert [h.version for h in out.status.history] == ["1", "1.1"]


def test_a_source_that_cannot_be_read_keeps_the_last_pick_and_says_why(
    tmp_path: Path, http: httpx.Client
) -> None:
    _add(tmp_path, "3")
    first = sourcing.resolve(_spec(tmp_path), status=api.ModelDeploymentStatus(), http=http, now=T0)
    shutil.rmtree(tmp_path)
    out = sourcing.resolve(_spec(tmp_path), status=first.status, http=http, now=T0)
    assert out.spec["model"]["version"] == "3"
    assert out.status.source is not None
    assert "cannot be listed" in out.status.source.error


def test_a_source_that_never_gave_a_version_holds_the_turn(
    tmp_path: Path, http: httpx.Client
) -> None:
    with pytest.raises(sourcing.SourceUnavailableError, match="gives no version yet") as e:
        sourcing.resolve(_spec(tmp_path), status=api.ModelDeploymentStatus(), http=http, now=T0)
    assert e.value.retry == timedelta(seconds=30)
