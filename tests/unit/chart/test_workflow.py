"""The kind workflow for users' CI: actionlint accepts it, and it runs the rollout and the rollback."""

from __future__ import annotations

import subprocess

import pytest

from testbed import paths
from tests.e2e_steps import ROOT, SCRIPT, WORKFLOW, script_steps, workflow_steps

pytestmark = pytest.mark.unit

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


def script() -> str:
    """What the workflow runs: its own steps, then the steps script they call."""
    runs = "\n".join(step.get("run", "") for step in workflow_steps())
    return runs + "\n" + SCRIPT.read_text()


def test_the_workflow_runs_the_steps_script_in_order_and_its_diagnostics_on_failure() -> None:
    assert script_steps() == ["build", "load", "install", "rollout", "rollback", "reject"]
    assert script_steps(on_failure=True) == ["diagnostics"]
    text = SCRIPT.read_text()
    for step in [*script_steps(), "diagnostics", "uninstall"]:
        assert f"\n{step}() {{" in text, f"e2e-steps.sh has no {step} step"


def test_the_workflow_builds_the_image_and_loads_it_into_kind() -> None:
    uses = [step.get("uses", "") for step in workflow_steps()]
    assert any(u.startswith("helm/kind-action@") for u in uses)
    text = script()
    assert text.index("docker build") < text.index("kind load docker-image")
    assert "IMAGE_PULL_POLICY=${IMAGE_PULL_POLICY:-Never}" in text
    assert 'image.pullPolicy="$IMAGE_PULL_POLICY"' in text
    assert "IMAGE_PULL_POLICY:" not in WORKFLOW.read_text(), (
        "the chart must use the loaded image, not pull one"
    )


def test_the_workflow_installs_the_chart_and_prometheus_where_the_examples_look() -> None:
    text = script()
    assert "RELEASE=model-rollout" in text
    assert 'helm upgrade --install "$RELEASE" charts/model-rollout' in text
    assert "pod-security.kubernetes.io/enforce=restricted" in text
    examples = (ROOT / "examples" / "iris.yaml").read_text()
    assert "http://prometheus.monitoring:9090" in examples
    assert "kubectl create namespace monitoring" in text
    assert "metadata: {name: prometheus}" in text
    assert "port: 9090" in text


def test_the_workflow_waits_for_the_rollout_the_rollback_then_the_failed_version() -> None:
    text = script()
    good = text.index("examples/iris.yaml")
    back = text.index("examples/iris-v2.yaml")
    bad = text.index("examples/iris-inaccurate.yaml")
    assert good < back < bad
    assert text.index("modelrollout.io/abort=", back) < text.index("=RolledBack", back) < bad
    assert text.index("=Healthy", good) < bad
    assert text.index("=Failed", bad) > bad
    assert "deployment/iris-canary" in text[bad:]
    for manifest in ("iris.yaml", "iris-v2.yaml", "iris-inaccurate.yaml"):
        assert (ROOT / "examples" / manifest).exists()
