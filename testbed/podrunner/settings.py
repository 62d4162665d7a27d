"""What the pod runner was told on its command line, shared by the runner and its pod workers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The kubelet backs off 10s doubling to 300s; the test bed restarts faster so tests move.
BACKOFF_CAP = 60.0


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    project_images: frozenset[str]
    entrypoint: tuple[str, ...]
    path_prepend: tuple[str, ...] = ()
    keep_visible: tuple[str, ...] = ()
    """Host paths that stay visible in every container, as an image's own files would, even under a
    volume mounted above them (the project's checkout and venv under an emptyDir at /tmp)."""
    backoff_base: float = 1.0
    backoff_cap: float = BACKOFF_CAP
    host_ip: str = "127.0.0.1"
    pod_network: str = "127.1.0.0/16"

    def log_path(self, namespace: str, pod: str, container: str) -> Path:
        return self.state_dir / "logs" / f"{namespace}_{pod}_{container}.log"

    def pod_dir(self, namespace: str, pod: str, uid: str) -> Path:
        return self.state_dir / "pods" / f"{namespace}_{pod}_{uid[:8]}"
