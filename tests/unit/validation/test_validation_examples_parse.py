"""Every example manifest is a valid ModelDeployment for the api models (and so for the CRD)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelrollout import api

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
MANIFESTS = sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_example_manifests() -> None:
    assert len(MANIFESTS) >= 5


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_an_example_manifest_parses_as_a_model_deployment(path: Path) -> None:
    # One ModelDeployment, beside the objects it needs (the HTTPRoute of a gatewayAPI example).
    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == api.KIND]
    assert doc["apiVersion"] == api.API_VERSION
    spec = api.ModelDeploymentSpec.model_validate(doc["spec"])
    assert spec.model.uri.startswith("file:///opt/model-rollout/examples/models/")
    assert spec.validation is not None
    assert spec.validation.dataset.uri.startswith("file:///opt/model-rollout/examples/data/")


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "registry").glob("*.yaml")), ids=lambda p: p.name
)
def test_a_registry_example_has_a_valid_source_and_spec(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    model = doc["spec"]["model"]
    api.ModelSource.model_validate(model["source"])
    # The operator fills version and uri from the source before it reads the spec.
    picked = {"version": "1", "uri": "file:///models/iris/1/model.skops"}
    sourced = {**{k: v for k, v in model.items() if k != "source"}, **picked}
    api.ModelDeploymentSpec.model_validate({**doc["spec"], "model": sourced})
