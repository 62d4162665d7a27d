"""The image, built here from the Dockerfile on a Debian-made base, does what the chart asks of it:
it answers --version, runs as uid 65532, serves and validates the example models on a read-only
root filesystem; and the pause image holds a pod's namespaces until it is told to stop."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import modelrollout
from tests.image.conftest import REPO, Built, Podman

pytestmark = pytest.mark.integration

EXAMPLES = "/opt/model-rollout/examples"
# What a restricted pod gets: no writable root, a tmpfs /tmp, a numeric non-root user.
READ_ONLY = ("--read-only", "--tmpfs", "/tmp:rw,size=64m")
SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.7, 3.0, 5.2, 2.3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_image_answers_its_version(podman: Podman, built: Built) -> None:
    assert podman.run(built["MODEL_ROLLOUT_IMAGE"], "--version").strip() == modelrollout.__version__


def test_the_image_runs_as_uid_65532_on_python_311_without_pip_or_apt(
    podman: Podman, built: Built
) -> None:
    image = built["MODEL_ROLLOUT_IMAGE"]
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["model-rollout"]
    probe = (
        "import os, shutil, sys, importlib.util as u;"
        "print(os.getuid(), os.getgid(), sys.version_info[:2] == (3, 11),"
        " u.find_spec('pip') is None, shutil.which('apt-get') is None)"
    )
    out = podman.run(image, "-c", probe, flags=("--entrypoint", "python3", *READ_ONLY))
    assert out.split() == ["65532", "65532", "True", "True", "True"]


def _wait_ready(url: str, name: str, podman: Podman) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        assert state == "running", f"the server exited ({state}):\n{podman('logs', name).stderr}"
        time.sleep(0.5)
    pytest.fail(f"not ready after 90 s:\n{podman('logs', name).stderr}")


def test_serve_answers_v2_inference_and_metrics_on_a_read_only_root(
    podman: Podman, built: Built
) -> None:
    port = free_port()
    name = podman.start(
        built["MODEL_ROLLOUT_IMAGE"],
        "serve",
        "--model-uri", f"file://{EXAMPLES}/models/iris-v1.skops",
        "--model-name", "iris", "--model-version", "1", "--track", "stable",
        "--host", "127.0.0.1", "--port", str(port),
        flags=READ_ONLY,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url, name, podman)
    body = {
        "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [SETOSA, VIRGINICA]}]
    }
    response = httpx.post(f"{url}/v2/models/iris/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["model_name"] == "iris"
    assert doc["model_version"] == "1"
    assert doc["outputs"][0]["data"] == ["setosa", "virginica"]
    metrics = httpx.get(f"{url}/metrics", timeout=10)
    assert metrics.status_code == 200
    # The one request above, counted with the labels the analysis queries select on.
    served = [
        line
        for line in metrics.text.splitlines()
        if line.startswith("model_requests_total{") and 'code="200"' in line
    ]
    assert len(served) == 1, metrics.text[:2000]
    assert 'model="iris"' in served[0]
    assert 'track="stable"' in served[0]
    assert served[0].endswith(" 1.0")
    # SIGTERM from `podman stop` (as from the kubelet) ends it cleanly, well before the SIGKILL.
    started = time.monotonic()
    podman("stop", "--time", "20", name)
    assert time.monotonic() - started < 15
    code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    assert code == "0", podman("logs", name).stderr


def _spec(manifest: str, stable: str | None = None) -> dict[str, Any]:
    """The validator's input as the operator builds it, from the manifests unchanged: their URIs
    name the image's own copy of the examples."""

    def spec(name: str) -> dict[str, Any]:
        return dict(yaml.safe_load((REPO / "examples" / name).read_text())["spec"])

    candidate = spec(manifest)
    return {
        "model": candidate["model"],
        "stable": None if stable is None else spec(stable)["model"],
        "validation": candidate["validation"],
    }


# (manifest, stable manifest or None, exit code, failed checks)
VALIDATIONS = [
    ("iris-v2.yaml", "iris.yaml", 0, []),
    ("iris-inaccurate.yaml", None, 1, ["quality.accuracy"]),
]


@pytest.mark.parametrize("case", VALIDATIONS, ids=[v[0] for v in VALIDATIONS])
def test_the_validator_judges_the_examples_in_the_image(
    podman: Podman, built: Built, tmp_path: Path, case: tuple[str, str | None, int, list[str]]
) -> None:
    manifest, stable, code, failed = case
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)  # written by uid 65532 in the container
    done = podman(
        "run", "--rm", "--network", "host", *READ_ONLY, "--volume", f"{out}:/out",
        built["MODEL_ROLLOUT_IMAGE"], "validate", "--spec", json.dumps(_spec(manifest, stable)),
        "--termination-message-path", "/out/termination-log",
        check=False,
    )  # fmt: skip
    assert done.returncode == code, done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] == failed
    assert report["model"]["uri"].startswith(f"file://{EXAMPLES}/")
    verdict = json.loads((out / "termination-log").read_text())
    assert verdict["passed"] is (code == 0)


def test_the_pause_image_holds_until_sigterm_and_is_one_small_static_file(
    podman: Podman, built: Built
) -> None:
    image = built["PAUSE_IMAGE"]
    assert podman.run(image, "-v").strip().startswith("pause 3.10")
    inspect = json.loads(podman("image", "inspect", image).stdout)[0]
    assert inspect["Config"]["Entrypoint"] == ["/pause"]
    assert inspect["Config"]["User"] == "65535:65535"
    assert len(inspect["RootFS"]["Layers"]) == 1
    assert inspect["Size"] < 2_000_000
    name = podman.start(image)
    time.sleep(1)
    state = json.loads(podman("inspect", name).stdout)[0]["State"]
    assert state["Status"] == "running"
    started = time.monotonic()
    podman("stop", "--time", "20", name)
    assert time.monotonic() - started < 10, "pause ignored SIGTERM and waited for the SIGKILL"
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
