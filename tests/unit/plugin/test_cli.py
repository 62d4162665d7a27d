"""`kubectl model-rollout` end to end through the real kubernetes client, against a fake API server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from modelrollout.plugin import main
from tests.unit.plugin import fake_api
from tests.unit.plugin import objects as o

pytestmark = pytest.mark.unit
TOKEN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[fake_api.FakeApi]:
    fake = fake_api.FakeApi()
    fake.add(o.md())
    fake.add(o.healthy(name="cancer", namespace="other"))
    with fake_api.serving(fake):
        monkeypatch.setenv(
            "KUBECONFIG", str(fake_api.kubeconfig(tmp_path / "config", server=fake.url))
        )
        yield fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_uses_the_contexts_namespace_and_prints_the_screen(
    api: fake_api.FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "status", "iris")
    assert (code, err) == (0, "")
    assert "Namespace:   ml" in out
    assert "[>]  4  pause until promoted" in out


@pytest.mark.parametrize(
    "argv",
    [
        ("-n", "other", "status", "cancer"),
        ("status", "cancer", "--namespace", "other"),
        ("--context", "other", "status", "cancer"),
        ("status", "cancer", "--context", "other"),
    ],
)
def test_namespace_and_context_flags_work_before_and_after_the_verb(
    api: fake_api.FakeApi, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "Namespace:   other" in out
    assert "Phase:       Healthy" in out


def test_an_explicit_kubeconfig_flag_wins_over_the_environment(
    api: fake_api.FakeApi,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = os.environ["KUBECONFIG"]
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    code, out, _ = run(capsys, "status", "iris", "--kubeconfig", config)
    assert code == 0
    assert "Name:        iris" in out


@pytest.mark.parametrize(
    ("argv", "annotation"),
    [
        (("promote", "iris"), "modelrollout.io/promote"),
        (("promote", "iris", "--full"), "modelrollout.io/promote-full"),
        (("abort", "iris"), "modelrollout.io/abort"),
        (("retry", "iris"), "modelrollout.io/retry"),
    ],
)
def test_requests_are_merge_patched_annotations_with_a_fresh_token(
    api: fake_api.FakeApi,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    annotation: str,
) -> None:
    code, out, _ = run(capsys, *argv)
    assert code == 0
    [(path, ctype, patch)] = api.patches
    assert path == "/apis/modelrollout.io/v1alpha1/namespaces/ml/modeldeployments/iris"
    assert ctype == "application/merge-patch+json"
    [(key, token)] = patch["metadata"]["annotations"].items()
    assert key == annotation
    assert TOKEN.match(token)
    assert (
        out
        == f'modeldeployment "iris" {argv[0] if "--full" not in argv else "promote-full"} requested ({annotation}={token}); it was Paused\n'
    )


def test_two_requests_in_a_row_carry_different_tokens(
    api: fake_api.FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "promote", "iris")
    run(capsys, "promote", "iris")
    tokens = [p["metadata"]["annotations"]["modelrollout.io/promote"] for _, _, p in api.patches]
    assert len(set(tokens)) == 2


def test_a_request_the_operator_will_ignore_is_still_filed_with_a_warning(
    api: fake_api.FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "-n", "other", "abort", "cancer")
    assert code == 0
    assert len(api.patches) == 1
    assert err.startswith("warning: cancer is Healthy; the operator acts on abort only while")


def test_status_and_history_print_raw_json_or_yaml(
    api: fake_api.FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "status", "iris", "-o", "json")
    assert json.loads(out) == o.md()["status"]
    _, out, _ = run(capsys, "history", "iris", "-o", "yaml")
    assert yaml.safe_load(out) == o.md()["status"]["history"]


def test_history_prints_the_table(
    api: fake_api.FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "history", "iris")
    assert code == 0
    assert out.splitlines()[1].split()[:4] == ["1", "1", "Promoted", "Promoted"]


def test_list_shows_one_namespace_or_all(
    api: fake_api.FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "list")
    assert [r.split()[0] for r in out.splitlines()] == ["NAME", "iris"]
    _, out, _ = run(capsys, "list", "-A")
    assert [r.split()[:2] for r in out.splitlines()[1:]] == [["ml", "iris"], ["other", "cancer"]]
    code, out, err = run(capsys, "list", "-n", "empty")
    assert (code, out) == (0, "")
    assert err == "No ModelDeployments found in namespace 'empty'.\n"


@pytest.mark.parametrize(
    ("setup", "argv", "message"),
    [
        (
            lambda api: None,
            ("status", "nope"),
            "error: modeldeployment 'nope' in namespace 'ml' not found; list them with "
            "`kubectl model-rollout list -n ml` or choose the namespace with -n\n",
        ),
        (
            lambda api: setattr(api, "crd_installed", False),
            ("list",),
            "does not serve modeldeployments.modelrollout.io: the ModelDeployment CRD is not installed",
        ),
        (
            lambda api: api.forbidden.add("PATCH"),
            ("promote", "iris"),
            "error: forbidden to patch modeldeployment 'iris' in namespace 'ml': User \"bob\" "
            'cannot patch resource "modeldeployments"; ask a cluster admin for RBAC to patch '
            "modeldeployments.modelrollout.io\n",
        ),
        (
            lambda api: None,
            ("--context", "nowhere", "list"),
            "error: context 'nowhere' is not in ",
        ),
    ],
)
def test_failures_are_one_line_on_stderr_and_exit_1(
    api: fake_api.FakeApi,
    capsys: pytest.CaptureFixture[str],
    setup: object,
    argv: tuple[str, ...],
    message: str,
) -> None:
    setup(api)  # type: ignore[operator]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_an_unreachable_api_server_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = fake_api.kubeconfig(tmp_path / "config", server=f"http://127.0.0.1:{port}")
    code, _, err = run(capsys, "--kubeconfig", str(config), "status", "iris")
    assert code == 1
    assert err.startswith(f"error: cannot reach the API server at http://127.0.0.1:{port} (")
    assert "check that the cluster is up" in err
    assert err.count("\n") == 1


def test_a_missing_kubeconfig_says_where_it_looked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    code, _, err = run(capsys, "list")
    assert code == 1
    assert err == (
        f"error: no kubeconfig at {tmp_path / 'absent'}; pass --kubeconfig, set KUBECONFIG, "
        "or create ~/.kube/config\n"
    )


def test_the_installed_executable_is_what_kubectl_runs(api: fake_api.FakeApi) -> None:
    exe = Path(sys.executable).parent / "kubectl-model_rollout"
    done = subprocess.run(
        [str(exe), "list", "-A"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "cancer" in done.stdout


def test_a_status_this_plugin_cannot_read_is_one_line_but_requests_still_work(
    api: fake_api.FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add(o.md(phase="Hibernating"))
    code, out, err = run(capsys, "status", "iris")
    assert (code, out) == (1, "")
    assert err == (
        "error: the status of iris has phase: Input should be 'Pending', 'Validating', "
        "'Progressing', 'Paused', 'Promoting', 'Healthy', 'RollingBack', 'RolledBack' or "
        "'Failed', which this plugin version cannot read; install the plugin of the operator's "
        "version, or use -o yaml\n"
    )
    assert run(capsys, "status", "iris", "-o", "yaml")[0] == 0
    code, out, err = run(capsys, "promote", "iris")
    assert (code, err) == (0, "")
    assert out.startswith('modeldeployment "iris" promote requested (modelrollout.io/promote=')
    assert out.endswith(")\n")


@pytest.mark.parametrize(
    ("obj", "code"),
    [(o.healthy(name="w", namespace="ml"), 0), (o.md(name="w", phase="RolledBack"), 1)],
)
def test_status_watch_ends_at_a_terminal_phase_with_its_exit_code(
    api: fake_api.FakeApi, capsys: pytest.CaptureFixture[str], obj: dict[str, object], code: int
) -> None:
    api.add(obj)
    got, out, _ = run(capsys, "status", "w", "--watch")
    assert got == code
    assert out.count("Name:        w") == 1
