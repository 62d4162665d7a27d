"""The archives load into containerd the way a node takes them (`ctr -n k8s.io images import`), and
containerd's runc runs the image as uid 65532. A private containerd: nothing another one holds is
touched."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelrollout
from tests.image.conftest import Built

pytestmark = pytest.mark.integration


class Containerd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "containerd.sock"
        config = root / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{root / "root"}"\nstate = "{root / "state"}"\n'
            f'[grpc]\n  address = "{self.socket}"\n'
            f'[ttrpc]\n  address = "{root / "containerd.sock.ttrpc"}"\n'
        )
        self.log = (root / "containerd.log").open("w")
        self.proc = subprocess.Popen(
            ["containerd", "--config", str(config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while self.ctr("version", check=False).returncode != 0:
            assert self.proc.poll() is None, (root / "containerd.log").read_text()
            assert time.monotonic() < deadline, "containerd did not answer within 30 s"
            time.sleep(0.2)

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"ctr {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.fail("containerd and ctr are missing: run testbed/install-system-deps.sh")
    # A short path: a unix socket's address holds at most 107 bytes.
    daemon = Containerd(tmp_path_factory.mktemp("ctd"))
    yield daemon
    daemon.stop()


def test_the_archives_import_into_containerd_and_run_there(
    containerd: Containerd, built: Built
) -> None:
    for key in ("MODEL_ROLLOUT_IMAGE_ARCHIVE", "PAUSE_IMAGE_ARCHIVE"):
        containerd.ctr("images", "import", built[key])
    listed = containerd.ctr("images", "ls", "--quiet").stdout.split()
    assert built["MODEL_ROLLOUT_IMAGE"] in listed
    assert built["PAUSE_IMAGE"] in listed
    image = built["MODEL_ROLLOUT_IMAGE"]
    version = containerd.ctr("run", "--rm", "--net-host", image, "version-probe",
                             "model-rollout", "--version").stdout  # fmt: skip
    assert version.strip() == modelrollout.__version__
    uid = containerd.ctr("run", "--rm", "--net-host", image, "uid-probe",
                         "python3", "-c", "import os; print(os.getuid(), os.getgid())").stdout  # fmt: skip
    assert uid.split() == ["65532", "65532"]
