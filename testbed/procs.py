"""Starting, finding and stopping the test bed's background processes by pid file.

Used by the cluster and Prometheus parts of the test bed; every process is its own session, so
stopping one stops its children too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

# Processes this interpreter started and left running on purpose: holding their Popen objects keeps
# them from being collected, which would warn that a child still runs (tests turn warnings into errors).
_DETACHED: list[subprocess.Popen[bytes]] = []


def start(*, name: str, argv: list[str], state: Path, env: dict[str, str] | None = None) -> int:
    """Starts argv detached, logging to state/<name>.log, and records its pid in state/<name>.pid."""
    state.mkdir(parents=True, exist_ok=True)
    with (state / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=state,
        )
    _DETACHED.append(proc)
    (state / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def pid_of(*, name: str, state: Path) -> int | None:
    """The pid recorded for name, if that process is still alive."""
    try:
        pid = int((state / f"{name}.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for every purpose here.
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def stop(*, name: str, state: Path, grace: float = 10.0) -> bool:
    """SIGTERM to the process group of name, SIGKILL after grace seconds. True if one was running."""
    pid = pid_of(name=name, state=state)
    (state / f"{name}.pid").unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    # Reap it through its Popen when this interpreter started it, so that is known to be over too.
    for proc in [p for p in _DETACHED if p.pid == pid]:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        _DETACHED.remove(proc)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(
    *, host: str, port: int, timeout: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)
    tail = ""
    if log is not None and log.exists():
        tail = (
            "\n--- last lines of "
            + str(log)
            + " ---\n"
            + "\n".join(log.read_text().splitlines()[-20:])
        )
    raise TimeoutError(f"{what} did not listen on {host}:{port} within {timeout:.0f}s{tail}")
