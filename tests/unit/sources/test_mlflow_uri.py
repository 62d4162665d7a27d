"""Where the model server fetches a version's file from the artifact location MLflow gives."""

from __future__ import annotations

import pytest

from modelrollout.sources import mlflow, pick

pytestmark = pytest.mark.unit
BASE = "http://mlflow:5000"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (
            "mlflow-artifacts:/1/abc/artifacts/model",
            f"{BASE}/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.skops",
        ),
        (
            "mlflow-artifacts://host:5000/1/abc/artifacts/model/",
            "http://host:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.skops",
        ),
        (
            "file:///mlruns/1/abc/artifacts/model",
            "file:///mlruns/1/abc/artifacts/model/model.skops",
        ),
        ("s3://bucket/1/abc/model", "s3://bucket/1/abc/model/model.skops"),
        ("https://store/x", "https://store/x/model.skops"),
    ],
)
def test_artifact_locations_become_urls_the_server_reads(location: str, expected: str) -> None:
    assert mlflow.artifact_url(BASE, location, "model.skops") == expected


@pytest.mark.parametrize("location", ["", "dbfs:/x", "gs://b/x", "models:/iris/1"])
def test_a_location_the_server_cannot_read_is_an_error_naming_it(location: str) -> None:
    with pytest.raises(pick.SourceError, match="cannot read"):
        mlflow.artifact_url(BASE, location, "model.skops")
