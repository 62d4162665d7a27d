"""The pod runner builds a container's environment and command line as the kubelet does."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from testbed.podrunner import envvars, launch, settings

pytestmark = pytest.mark.unit


class Sources:
    def __init__(
        self, config_maps: dict[str, dict[str, str]], secrets: dict[str, dict[str, str]]
    ) -> None:
        self.config_maps, self.secrets = config_maps, secrets

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.config_maps.get(f"{namespace}/{name}")

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get(f"{namespace}/{name}")


POD: dict[str, Any] = {
    "metadata": {
        "name": "web-1",
        "namespace": "ml",
        "uid": "u-1",
        "labels": {"app": "iris", "track": "canary"},
        "annotations": {"note": 'say "hi"'},
    },
    "spec": {
        "nodeName": "node-0",
        "serviceAccountName": "runner",
        "containers": [{"name": "main"}],
    },
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)-$(B)", "a-b"),
        ("$$(A)", "$(A)"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(A", "$(A"),
        ("cost $5", "cost $5"),
        ("trailing $", "trailing $"),
        ("$()", "$()"),
        ("$(A)$(A)", "aa"),
    ],
)
def test_expansion_follows_kubernetes_rules(text: str, expected: str) -> None:
    assert envvars.expand(text, {"A": "a", "B": "b"}) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "web-1"),
        ("metadata.namespace", "ml"),
        ("metadata.uid", "u-1"),
        ("metadata.labels['track']", "canary"),
        ("metadata.labels['absent']", ""),
        ("metadata.annotations['note']", 'say "hi"'),
        ("spec.nodeName", "node-0"),
        ("spec.serviceAccountName", "runner"),
        ("status.podIP", "127.1.0.7"),
        ("status.hostIP", "127.0.0.1"),
        ("metadata.labels", 'app="iris"\ntrack="canary"'),
        ("metadata.annotations", 'note="say \\"hi\\""'),
    ],
)
def test_field_refs_read_the_pod(path: str, expected: str) -> None:
    assert envvars.field_value(POD, path, pod_ip="127.1.0.7", host_ip="127.0.0.1") == expected


def test_an_unknown_field_ref_is_an_error_naming_it() -> None:
    with pytest.raises(envvars.EnvError, match=r"spec\.priority"):
        envvars.field_value(POD, "spec.priority", pod_ip="", host_ip="")


def resolve(container: dict[str, Any], sources: Sources | None = None) -> dict[str, str]:
    return envvars.resolve(
        {"name": "main", **container},
        POD,
        sources=sources or Sources({}, {}),
        pod_ip="127.1.0.7",
        host_ip="127.0.0.1",
        base={"PATH": "/bin"},
    )


def test_env_values_expand_earlier_variables_and_value_from_sources() -> None:
    sources = Sources(
        {"ml/cfg": {"MODE": "fast", "bad key": "x"}}, {"ml/creds": {"token": "s3cr3t"}}
    )
    env = resolve(
        {
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
            "env": [
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "URL", "value": "http://$(POD_IP):8080/$(CFG_MODE)"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
                {"name": "LATER", "value": "$(NOT_YET)"},
                {"name": "NOT_YET", "value": "x"},
            ],
        },
        sources,
    )
    assert env["CFG_MODE"] == "fast"
    assert "CFG_bad key" not in env
    assert env["URL"] == "http://127.1.0.7:8080/fast"
    assert env["TOKEN"] == "s3cr3t"
    assert env["LATER"] == "$(NOT_YET)"
    assert env["PATH"] == "/bin"


def test_a_missing_config_map_key_is_an_error_unless_optional() -> None:
    sources = Sources({"ml/cfg": {"A": "1"}}, {})
    ref = {"name": "cfg", "key": "B"}
    with pytest.raises(envvars.EnvError, match="couldn't find key B in ConfigMap ml/cfg"):
        resolve({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": ref}}]}, sources)
    env = resolve(
        {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {**ref, "optional": True}}}]},
        sources,
    )
    assert "X" not in env


def test_a_missing_secret_in_env_from_is_an_error_unless_optional() -> None:
    with pytest.raises(envvars.EnvError, match='secret "gone" not found'):
        resolve({"envFrom": [{"secretRef": {"name": "gone"}}]})
    assert "X" not in resolve({"envFrom": [{"secretRef": {"name": "gone", "optional": True}}]})


def test_resource_field_refs_round_up_by_the_divisor() -> None:
    pod = {
        **POD,
        "spec": {
            **POD["spec"],
            "containers": [
                {"name": "main", "resources": {"limits": {"cpu": "1500m", "memory": "1Gi"}}}
            ],
        },
    }
    ref = {"resource": "limits.cpu"}
    assert envvars.resource_value(pod, ref, container="main") == "2"
    assert (
        envvars.resource_value(
            pod, {"resource": "limits.memory", "divisor": "1Mi"}, container="main"
        )
        == "1024"
    )
    assert (
        envvars.resource_value(pod, {"resource": "limits.cpu", "divisor": "1m"}, container="main")
        == "1500"
    )


def test_a_resource_field_ref_without_a_limit_reads_the_nodes_allocatable() -> None:
    assert envvars.resource_value(POD, {"resource": "limits.cpu"}, container="main") == str(
        os.cpu_count()
    )
    with pytest.raises(ValueError, match="divisor"):
        envvars.resource_value(POD, {"resource": "limits.cpu", "divisor": "0"}, container="main")


def test_command_and_args_expand_and_an_empty_command_falls_back_to_the_entrypoint() -> None:
    env = {"PORT": "9000"}
    spec = {
        "name": "c",
        "command": ["python", "-m", "http.server", "$(PORT)"],
        "args": ["--x=$(NOPE)"],
    }
    assert launch.argv_for(spec, entrypoint=("model-rollout",), env=env) == [
        "python",
        "-m",
        "http.server",
        "9000",
        "--x=$(NOPE)",
    ]
    assert launch.argv_for(
        {"name": "c", "args": ["serve", "--port=$(PORT)"]}, entrypoint=("model-rollout",), env=env
    ) == ["model-rollout", "serve", "--port=9000"]


def test_the_base_environment_points_in_cluster_clients_at_the_api_server_and_drops_the_runners_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/root/admin.yaml")
    monkeypatch.setenv("PATH", "/usr/bin")
    cfg = settings.Settings(
        state_dir=Path("/tmp"),
        project_images=frozenset(),
        entrypoint=(),
        path_prepend=("/venv/bin",),
    )
    env = launch.base_env(POD, cfg=cfg, server=("127.0.0.1", 32765))
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "32765"
    assert env["PATH"] == "/venv/bin:/usr/bin"
    assert env["HOSTNAME"] == "web-1"
    assert "KUBECONFIG" not in env
