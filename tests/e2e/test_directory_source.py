"""A folder of versioned artifacts drives rollouts: a new version folder dropped beside the old one
rolls out with no manifest edit; folders that are not versions, or whose file is not there yet, are
passed over."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e import support
from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _publish(store: Path, version: str, artifact: Path) -> None:
    """What a training pipeline does: the file is written under a temporary name, then renamed."""
    folder = store / version
    folder.mkdir()
    shutil.copy(artifact, folder / "model.skops.part")
    (folder / "model.skops.part").rename(folder / "model.skops")


def test_a_version_folder_dropped_into_the_store_rolls_out_with_no_manifest_edit(
    testbed: Testbed, namespace: str, models: Path, operator: support.Operator
) -> None:
    # Beside the demo models: the namespace's claim holds it (the pods mount it, the operator reads
    # it where the claim is).
    store = models / "stores" / namespace
    store.mkdir(parents=True)
    try:
        _roll_out_from(testbed, namespace, models, store)
    finally:
        shutil.rmtree(store)


def _roll_out_from(testbed: Testbed, namespace: str, models: Path, store: Path) -> None:
    folder = f"stores/{store.name}/"
    _publish(store, "1.9", models / "models" / "iris-v1.skops")
    md = support.model_deployment(
        name="iris",
        version="unused",
        artifact="unused",
        prometheus_url="",
        steps=[{"setWeight": 50}, {"pause": {"duration": "3s"}}],
    )
    md["spec"]["model"] = {
        "name": "iris",
        "source": {"directory": {"uri": support.uri(folder)}, "pollInterval": "2s"},
    }
    support.apply(testbed, namespace, md)
    st = support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=180)
    assert st["stableVersion"] == "1.9"
    assert (st["source"]["kind"], st["source"]["version"]) == ("directory", "1.9")
    assert st["source"]["uri"] == support.uri(f"{folder}1.9/model.skops")
    assert "highest version" in st["source"]["reason"]
    generation = testbed.get("md", "iris", "-n", namespace)["metadata"]["generation"]

    # Not versions, or not written yet: passed over, nothing rolls out.
    (store / "latest").mkdir()
    (store / "2.0").mkdir()
    # 1.10 is above 1.9 (numbers, not text).
    _publish(store, "1.10", models / "models" / "iris-v2.skops")
    eventually(
        lambda: support.status(testbed, namespace, "iris").get("stableVersion") == "1.10",
        timeout=240,
        what="version 1.10 to become stable",
    )
    st = support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=60)
    picks = [h["version"] for h in st["history"] if h["outcome"] == "Selected"]
    assert picks == ["1.9", "1.10"]
    served = testbed.get("deployment", "iris-stable", "-n", namespace)
    args = served["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--model-uri={support.uri(f'{folder}1.10/model.skops')}" in args, args
    assert testbed.get("md", "iris", "-n", namespace)["metadata"]["generation"] == generation
