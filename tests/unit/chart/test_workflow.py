"""The kind workflow for users' CI: actionlint accepts it, and it runs the rollout and the rollback."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed import paths

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / ".github" / "workflows" / "e2e.yaml"
ACTIONLINT = paths.BIN / "actionlint"


@pytest.mark.skipif(
    not ACTIONLINT.exists(),
    reason=f"actionlint is not built ({ACTIONLINT}): bash testbed/build-binaries.sh actionlint",
)
def test_actionlint_accepts_the_e2e_workflow() -> None:
    done = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, f"actionlint found problems:\n{done.stdout}{done.stderr}"


def steps() -> list[dict[str, Any]]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return [step for job in jobs.values() for step in job["steps"]]


def script() -> str:
    return "\n".join(step.get("run", "") for step in steps())


def test_the_workflow_builds_the_image_and_loads_it_into_kind() -> None:
    uses = [step.get("uses", "") for step in steps()]
    assert any(u.startswith("helm/kind-action@") for u in uses)
    text = script()
    assert text.index("docker build") < text.index("kind load docker-image")
    assert "image.pullPolicy=Never" in text, "the chart must use the loaded image, not pull one"


def test_the_workflow_installs_the_chart_and_prometheus_where_the_examples_look() -> None:
    text = script()
    assert "helm install model-rollout charts/model-rollout" in text
    examples = (ROOT / "examples" / "iris.yaml").read_text()
    assert "http://prometheus.monitoring:9090" in examples
    assert "kubectl create namespace monitoring" in text
    assert "metadata: {name: prometheus}" in text
    assert "port: 9090" in text


def test_the_workflow_waits_for_the_rollout_then_for_the_failed_version() -> None:
    text = script()
    good = text.index("examples/iris.yaml")
    bad = text.index("examples/iris-inaccurate.yaml")
    assert good < bad
    assert text.index("=Healthy", good) < bad
    assert text.index("=Failed", bad) > bad
    assert "deployment/iris-canary" in text[bad:]
    for manifest in ("iris.yaml", "iris-inaccurate.yaml"):
        assert (ROOT / "examples" / manifest).exists()
