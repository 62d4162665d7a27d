"""What a test sees of the running test bed: kubectl, an API client, Prometheus queries, pod logs."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed import paths


@dataclass(frozen=True)
class Testbed:
    __test__ = False  # not a test class, whatever pytest makes of its name

    name: str
    kubeconfig: Path
    prometheus_url: str
    state_dir: Path

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(paths.BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        done = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}"
            )
        return done

    def fresh_namespace(self, *labels: str) -> Iterator[str]:
        """Yields a new namespace labelled with `labels` (key=value); deletes it (not waiting) after."""
        name = f"t-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        self.kubectl("label", "namespace", name, "modelrollout.io/test=true", *labels)
        try:
            yield name
        finally:
            self.kubectl("delete", "namespace", name, "--wait=false", check=False)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus query {promql!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop_prometheus(self) -> None:
        """Takes the test bed's Prometheus away (its data stays) to test what happens without it."""
        from testbed import prometheus

        prometheus.stop(state=self.state_dir)

    def start_prometheus(self) -> None:
        """Brings Prometheus back on the same address."""
        from testbed import procs, prometheus

        if procs.pid_of(name="prometheus", state=self.state_dir) is None:
            prometheus.restart(cluster_name=self.name, state=self.state_dir)

    def pod_log(self, namespace: str, pod: str, container: str | None = None) -> str:
        which = ["-c", container] if container else ["--all-containers"]
        return self.kubectl("logs", "-n", namespace, pod, *which, check=False).stdout


def eventually(
    check: Callable[[], Any], *, timeout: float = 60, interval: float = 0.5, what: str = ""
) -> Any:
    """Polls check until it returns a truthy value (returned) or raises no AssertionError; fails after timeout."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = None
        except AssertionError as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what or check}"
            ) from last
        time.sleep(interval)
