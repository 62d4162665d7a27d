"""The MLflow source against a real `mlflow server`: the version an alias or stage points at, and a
URL from which the model server really fetches that version's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrollout import api
from modelrollout.models import fetch
from modelrollout.sources import pick
from tests.mlflow_registry import MlflowRegistry

pytestmark = pytest.mark.integration


def _source(url: str, model: str, **how: str) -> api.ModelSource:
    return api.ModelSource.model_validate({"mlflow": {"trackingUri": url, "model": model, **how}})


def test_an_alias_gives_its_version_and_moving_it_gives_the_new_one(
    mlflow_registry: MlflowRegistry, tmp_path: Path
) -> None:
    one, two = tmp_path / "one.skops", tmp_path / "two.skops"
    one.write_bytes(b"model one")
    two.write_bytes(b"model two")
    v1 = mlflow_registry.register("alias-model", one)
    v2 = mlflow_registry.register("alias-model", two)
    mlflow_registry.set_alias("alias-model", "champion", v1)
    source = _source(mlflow_registry.url, "alias-model", alias="champion")
    with pick.client() as http:
        found = pick.pick(source, http=http)
        assert found.version == v1
        assert "alias 'champion'" in found.reason
        # The model server's own fetch reads what MLflow keeps for that version.
        got = fetch.fetch_to_path(found.uri, cache_dir=tmp_path / "fetched")
        assert got.read_bytes() == b"model one"
        mlflow_registry.set_alias("alias-model", "champion", v2)
        assert pick.pick(source, http=http).version == v2


def test_a_stage_gives_its_newest_version(mlflow_registry: MlflowRegistry, tmp_path: Path) -> None:
    artifact = tmp_path / "m.skops"
    artifact.write_bytes(b"m")
    versions = [mlflow_registry.register("staged-model", artifact) for _ in range(3)]
    for v in versions[:2]:
        mlflow_registry.set_stage("staged-model", v, "Production")
    source = _source(mlflow_registry.url, "staged-model", stage="Production")
    with pick.client() as http:
        found = pick.pick(source, http=http)
    assert found.version == versions[1]
    assert "stage 'Production'" in found.reason


@pytest.mark.parametrize(
    ("model", "how", "error"),
    [
        (
            "no-such-model",
            {"alias": "champion"},
            r"refused registered-models/alias \(\d+: .*not found",
        ),
        ("staged-nothing", {"stage": "Staging"}, "has no version in stage 'Staging'"),
    ],
)
def test_what_mlflow_cannot_give_is_an_error_saying_what_to_do(
    mlflow_registry: MlflowRegistry, tmp_path: Path, model: str, how: dict[str, str], error: str
) -> None:
    artifact = tmp_path / "m.skops"
    artifact.write_bytes(b"m")
    mlflow_registry.register("staged-nothing", artifact)
    with pick.client() as http, pytest.raises(pick.SourceError, match=error):
        pick.pick(_source(mlflow_registry.url, model, **how), http=http)


def test_an_unreachable_tracking_server_is_an_error_naming_it() -> None:
    source = _source("http://127.0.0.1:9", "m", alias="a")
    with pick.client() as http, pytest.raises(pick.SourceError, match="did not answer"):
        pick.pick(source, http=http)
