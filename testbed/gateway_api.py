"""The Gateway API's standard-channel CRDs on the test bed, from the `sigs.k8s.io/gateway-api` Go module.

No Gateway implementation runs here: the CRDs let HTTPRoutes exist, so the operator's writes to them
are tested against the real API server's schema. Called by `testbed up`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from testbed import cluster

# Pinned like the binaries; v1.7.x needs Go 1.27, newer than the toolchain here.
VERSION = os.environ.get("GATEWAY_API_VERSION", "v1.6.3")
MODULE = "sigs.k8s.io/gateway-api"
CRDS = ("httproutes", "gateways", "gatewayclasses", "referencegrants")


def module_dir(version: str = VERSION) -> Path:
    """The module's files in the Go module cache, downloaded once (the cache keeps them by version)."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "GONOSUMDB": "sigs.k8s.io", "GOFLAGS": "-mod=mod"}
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{version}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        cwd=Path.home(),  # outside any module, so no go.mod is read or changed
    )
    try:
        info = json.loads(done.stdout)
    except ValueError:
        info = {}
    crd_dir = Path(info.get("Dir", "")) / "config" / "crd" / "standard"
    if not crd_dir.is_dir():
        raise RuntimeError(
            f"`go mod download {MODULE}@{version}` gave no {crd_dir}: "
            f"{info.get('Error') or done.stderr.strip()}; check the Go module proxy is reachable "
            "or set GATEWAY_API_VERSION to a version Go can fetch"
        )
    return crd_dir.parent.parent.parent


def install(cluster_name: str, *, version: str = VERSION) -> None:
    """Applies the standard-channel CRDs (server-side, so re-running is a no-op) and waits for them."""
    crd_dir = module_dir(version) / "config" / "crd" / "standard"
    for f in sorted(crd_dir.glob("gateway.networking.k8s.io_*.yaml")):
        cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(f), cluster=cluster_name
        )
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        *(f"crd/{name}.gateway.networking.k8s.io" for name in CRDS),
        "--timeout=60s",
        cluster=cluster_name,
    )
