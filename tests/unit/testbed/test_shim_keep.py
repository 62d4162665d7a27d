"""The shim keeps the project's files visible under a volume mounted above them, as an image's own
files would be: a checkout under /tmp must survive the emptyDir our pods mount at /tmp. Needs root
(private mount namespaces), like the pod runner itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from testbed.podrunner import shim

SHIM = shim.__file__


def _run(tmp: Path, *, keep: list[str], covered: Path) -> subprocess.CompletedProcess[str]:
    volume = tmp / "volume"
    volume.mkdir(exist_ok=True)
    plan = tmp / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "argv": ["cat", str(covered / "project" / "file")],
                "workingDir": "",
                "mounts": [{"source": str(volume), "target": str(covered), "readOnly": False}],
                "startError": str(tmp / "start-error"),
                "keep": keep,
                "stash": str(tmp / "plan.keep"),
            }
        )
    )
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            sys.executable,
            "-I",
            "-S",
            SHIM,
            str(plan),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_kept_path_stays_visible_under_a_volume_mounted_above_it(tmp_path: Path) -> None:
    covered = tmp_path / "covered"
    (covered / "project").mkdir(parents=True)
    (covered / "project" / "file").write_text("the image's own file\n")
    state = tmp_path / "state"
    state.mkdir()
    kept = _run(state, keep=[str(covered / "project")], covered=covered)
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout == "the image's own file\n"
    hidden = _run(state, keep=[], covered=covered)
    assert hidden.returncode != 0
    assert "No such file" in hidden.stderr
