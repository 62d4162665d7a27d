"""Runs inside a container's private mount namespace: bind-mounts its volumes, then execs its command.

Started by the pod runner as `unshare --mount --propagation private -- python -I -S shim.py PLAN`;
stdlib only, so it starts fast and does not depend on the container's environment.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

START_ERROR_EXIT = 128  # what the kubelet reports for a container that could not start
PR_SET_PDEATHSIG = 1


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    _die_with_parent()
    argv = plan["argv"]
    try:
        targets = [m["target"] for m in plan["mounts"]]
        kept = _stash(plan.get("keep", []), targets=targets, stash=Path(plan.get("stash", "")))
        for mount in plan["mounts"]:
            _bind(mount["source"], mount["target"], read_only=mount["readOnly"])
        for original, stashed in kept:
            # Back where it was, on top of the volume that covered it.
            Path(original).mkdir(parents=True, exist_ok=True)
            _mount("--bind", str(stashed), original)
        workdir = Path(plan["workingDir"] or "/")
        workdir.mkdir(parents=True, exist_ok=True)
        os.chdir(workdir)
    except OSError as e:
        return _start_failed(f"failed to set up the container: {e}", plan)
    try:
        os.execvpe(argv[0], argv, os.environ)
    except FileNotFoundError:
        # The kubelet's (runc's) words, which users search for.
        return _start_failed(f'exec: "{argv[0]}": executable file not found in $PATH', plan)
    except OSError as e:
        return _start_failed(f'exec: "{argv[0]}": {e.strerror}', plan)


def _start_failed(message: str, plan: dict[str, str]) -> int:
    print(message, file=sys.stderr, flush=True)
    Path(plan["startError"]).write_text(message)
    return START_ERROR_EXIT


def _die_with_parent() -> None:
    """A container must not outlive a runner that was killed outright (SIGKILL leaves no chance to
    stop it); the signal survives the exec below. Linux only, like the rest of the test bed."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the runner died before the line above
        sys.exit(START_ERROR_EXIT)


def _stash(keep: list[str], *, targets: list[str], stash: Path) -> list[tuple[str, Path]]:
    """Binds each kept path that a volume would cover to a side directory first, so it can be put
    back after the volumes are mounted: the project's files must stay visible like an image's."""
    kept = []
    for i, path in enumerate(keep):
        if any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets):
            side = stash / str(i)
            side.mkdir(parents=True, exist_ok=True)
            _mount("--bind", path, str(side))
            kept.append((path, side))
    return kept


def _bind(source: str, target: str, *, read_only: bool) -> None:
    # The mount point is created on the shared filesystem if missing (an empty file or directory,
    # e.g. /dev/termination-log); only the mount on top of it is private to this container.
    dst = Path(target)
    if Path(source).is_dir():
        dst.mkdir(parents=True, exist_ok=True)
    elif not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.touch()
    _mount("--bind", source, target)
    if read_only:
        _mount("-o", "remount,bind,ro", target)


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"mount {' '.join(args)}: {done.stderr.strip()}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
