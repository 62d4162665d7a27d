"""Shared fixtures: the test beds, brought up once per session (or reused), and a namespace per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.mlflow_registry import MlflowRegistry
from tests.testbed_client import Testbed


def _bed(name: str, *, real_node: bool) -> Iterator[Testbed]:
    from testbed import __main__ as tb
    from testbed import cluster, node, paths

    # `up` starts only what is missing; this session tears down only a control plane it started, so a
    # test bed someone else is using (or one kept with MODEL_ROLLOUT_KEEP_TESTBED) is never taken away.
    started = not cluster.running(name)
    tb.up(
        name, build=os.environ.get("MODEL_ROLLOUT_TESTBED_BUILD", "1") != "0", real_node=real_node
    )
    if real_node:
        # The project's image as build-image.sh left it (`make test` builds it first).
        node.import_image(node.layout(name), paths.CACHE / "images" / "model-rollout-dev.tar")
    yield Testbed(
        name=name,
        kubeconfig=paths.kubeconfig(name),
        prometheus_url=tb.load_state(name)["prometheus_url"],
        state_dir=paths.state_dir(name),
        real_node=real_node,
    )
    if started and os.environ.get("MODEL_ROLLOUT_KEEP_TESTBED") != "1":
        tb.down(name)


@pytest.fixture(scope="session")
def pod_runner_testbed() -> Iterator[Testbed]:
    """The bed whose pods the pod runner runs as host processes, on kwok's nodes."""
    from testbed import paths

    yield from _bed(os.environ.get("MODEL_ROLLOUT_TESTBED", paths.DEFAULT_CLUSTER), real_node=False)


@pytest.fixture(scope="session")
def testbed(request: pytest.FixtureRequest) -> Testbed:
    """The real node's bed under MODEL_ROLLOUT_REAL_NODE=1 (real containers, Services that route),
    else the pod runner's."""
    from testbed import __main__ as tb

    bed: Testbed = request.getfixturevalue(
        "real_node_testbed" if tb.real_node_requested() else "pod_runner_testbed"
    )
    return bed


@pytest.fixture(scope="session")
def real_node_testbed() -> Iterator[Testbed]:
    """The session's one real-node bed, `<name>-real-node`, with the project's image loaded.

    One per machine: kube-proxy owns the host's KUBE-* chains.
    """
    from testbed import __main__ as tb
    from testbed import paths

    if not tb.real_node_requested():
        pytest.skip("the real node is opt-in: set MODEL_ROLLOUT_REAL_NODE=1 (root, containerd)")
    name = os.environ.get("MODEL_ROLLOUT_TESTBED", paths.DEFAULT_CLUSTER) + "-real-node"
    yield from _bed(name, real_node=True)


@pytest.fixture
def namespace(testbed: Testbed) -> Iterator[str]:
    yield from testbed.fresh_namespace()


@pytest.fixture(scope="session")
def mlflow_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowRegistry]:
    """A real `mlflow server` (sqlite backend, proxied artifacts) for this session, stopped after."""
    from testbed import mlflow

    state = tmp_path_factory.mktemp("mlflow")
    url = mlflow.start(state)
    with MlflowRegistry(url) as registry:
        yield registry
    mlflow.stop(state)
