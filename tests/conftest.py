"""Shared fixtures: the test bed, brought up once per session (or reused), and a namespace per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.mlflow_registry import MlflowRegistry
from tests.testbed_client import Testbed


@pytest.fixture(scope="session")
def testbed() -> Iterator[Testbed]:
    """The session's bed, MODEL_ROLLOUT_TESTBED (default `model-rollout`): the control plane, the
    real node with the project's image loaded, and Prometheus. One per machine: kube-proxy owns the
    host's KUBE-* chains."""
    from testbed import __main__ as tb
    from testbed import cluster, node, paths

    name = paths.DEFAULT_CLUSTER
    # `up` starts only what is missing; this session tears down only a control plane it started, so a
    # test bed someone else is using (or one kept with MODEL_ROLLOUT_KEEP_TESTBED) is never taken away.
    started = not cluster.running(name)
    tb.up(name, build=os.environ.get("MODEL_ROLLOUT_TESTBED_BUILD", "1") != "0")
    # The project's image as build-image.sh left it (`make test` builds it first).
    node.import_image(node.layout(name), paths.CACHE / "images" / "model-rollout-dev.tar")
    yield Testbed(
        name=name,
        kubeconfig=paths.kubeconfig(name),
        prometheus_url=tb.load_state(name)["prometheus_url"],
        state_dir=paths.state_dir(name),
    )
    if started and os.environ.get("MODEL_ROLLOUT_KEEP_TESTBED") != "1":
        tb.down(name)


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
