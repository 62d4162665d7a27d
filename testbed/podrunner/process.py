"""Starting and stopping one container's process, and reading back its termination message.

Each container runs in its own session (so SIGTERM reaches uvicorn's workers too) and its own
private mount namespace, set up by shim.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from testbed.podrunner import status, volumes

SHIM = Path(__file__).with_name("shim.py")
MESSAGE_LIMIT = 4096  # bytes of terminationMessagePath the kubelet reports
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048  # FallbackToLogsOnError: the tail of the log


@dataclass(frozen=True)
class Launch:
    argv: Sequence[str]
    env: Mapping[str, str]
    working_dir: str
    mounts: Sequence[volumes.Mount]
    log: Path
    plan: Path  # where the shim's plan (and any start error beside it) is written
    banner: str  # the marker line written to the log before this start
    keep: Sequence[str] = ()  # host paths the shim keeps visible under any volume mount


@dataclass
class Started:
    proc: subprocess.Popen[bytes]
    log_offset: int  # where this start's output begins in the log
    start_error: Path


def start(launch: Launch) -> Started:
    launch.plan.parent.mkdir(parents=True, exist_ok=True)
    launch.log.parent.mkdir(parents=True, exist_ok=True)
    start_error = launch.plan.with_suffix(".start-error")
    start_error.unlink(missing_ok=True)
    launch.plan.write_text(
        json.dumps(
            {
                "argv": list(launch.argv),
                "workingDir": launch.working_dir,
                "mounts": [
                    {"source": m.source, "target": m.target, "readOnly": m.read_only}
                    for m in launch.mounts
                ],
                "startError": str(start_error),
                "keep": list(launch.keep),
                "stash": str(launch.plan.with_suffix(".keep")),
            }
        )
    )
    with launch.log.open("ab") as log:
        log.write(f"{launch.banner}\n".encode())
        log.flush()
        offset = log.tell()
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            sys.executable,
            "-I",
            "-S",
            str(SHIM),
            str(launch.plan),
        ]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(launch.env),
            start_new_session=True,
        )
    return Started(proc=proc, log_offset=offset, start_error=start_error)


def signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def termination(
    started: Started,
    *,
    exit_code: int,
    message_file: Path,
    policy: str,
    log: Path,
    started_at: datetime,
    finished_at: datetime,
) -> status.Terminated:
    """The terminated state the kubelet reports, reason and message included."""
    sig = -exit_code if exit_code < 0 else None
    code = 128 + sig if sig is not None else exit_code
    if started.start_error.exists():
        return status.Terminated(
            exit_code=code,
            reason="StartError",
            started_at=started_at,
            finished_at=finished_at,
            message=started.start_error.read_text()[:MESSAGE_LIMIT],
        )
    message = ""
    with contextlib.suppress(OSError):
        message = message_file.read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
    if not message and code != 0 and policy == "FallbackToLogsOnError":
        message = log_tail(log, offset=started.log_offset)
    return status.Terminated(
        exit_code=code,
        reason="Completed" if code == 0 else "Error",
        started_at=started_at,
        finished_at=finished_at,
        message=message,
        signal=sig,
    )


def log_tail(log: Path, *, offset: int) -> str:
    try:
        with log.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return ""
    tail = b"\n".join(data.splitlines()[-FALLBACK_LINES:])[-FALLBACK_BYTES:]
    return tail.decode(errors="replace")
