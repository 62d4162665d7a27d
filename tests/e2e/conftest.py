"""Fixtures of the end-to-end tests: the CRD, the demo models, and the operator for a test's namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import support
from tests.testbed_client import Testbed


@pytest.fixture(scope="session")
def crd(testbed: Testbed) -> None:
    testbed.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(support.REPO / "crds"))
    testbed.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/modeldeployments.modelrollout.io",
        "--timeout=60s",
    )


# Every pod the operator makes must be admitted under the restricted Pod Security profile.
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


@pytest.fixture
def namespace(testbed: Testbed) -> Iterator[str]:
    """The test's namespace, enforcing the restricted Pod Security profile."""
    yield from testbed.fresh_namespace(RESTRICTED)


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
