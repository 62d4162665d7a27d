"""Fixtures of the end-to-end tests: the CRD, the demo models, and the operator for a test's namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import support
from tests.mlflow_registry import MlflowRegistry
from tests.testbed_client import Testbed


@pytest.fixture(scope="session")
def mlflow_registry(
    testbed: Testbed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowRegistry]:
    """A real `mlflow server` whose artifacts the pods download: it listens on the node's address
    (the host's side of the pods' bridge), which the operator on the host reaches too."""
    from testbed import mlflow, node

    state = tmp_path_factory.mktemp("mlflow-e2e")
    url = mlflow.start(state, host=node.layout(testbed.name).node_ip)
    with MlflowRegistry(url) as registry:
        yield registry
    mlflow.stop(state)


@pytest.fixture(scope="session")
def crd(testbed: Testbed) -> None:
    support.install_crd(testbed)


# Every pod the operator makes must be admitted under the restricted Pod Security profile.
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


@pytest.fixture
def namespace(testbed: Testbed, models: Path) -> Iterator[str]:
    """The test's namespace, enforcing the restricted Pod Security profile; the demo models are its
    claim `models` (support.uri names files in it)."""
    for name in testbed.fresh_namespace(RESTRICTED):
        volume = support.models_volume(testbed, name, models)
        try:
            yield name
        finally:
            testbed.kubectl("delete", "pv", volume, "--wait=false", check=False)


@pytest.fixture(scope="session")
def models() -> Path:
    return support.demo_models()


@pytest.fixture
def operator(testbed: Testbed, namespace: str, crd: None) -> Iterator[support.Operator]:
    log = testbed.state_dir / "e2e" / f"operator-{namespace}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    op = support.Operator(namespace=namespace, kubeconfig=testbed.kubeconfig, log=log).start()
    yield op
    op.stop()
