"""Manual requests as annotations, the one-line API errors, and the `status --watch` loop."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelrollout.api import Phase
from modelrollout.plugin import kube, main, requests
from modelrollout.rollout.observation import Request
from tests.unit.plugin import objects as o

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        (Request.PROMOTE, "modelrollout.io/promote"),
        (Request.PROMOTE_FULL, "modelrollout.io/promote-full"),
        (Request.ABORT, "modelrollout.io/abort"),
        (Request.RETRY, "modelrollout.io/retry"),
    ],
)
def test_a_request_is_a_merge_patch_of_one_annotation(kind: Request, key: str) -> None:
    assert requests.patch(kind, "t1") == {"metadata": {"annotations": {key: "t1"}}}


def test_tokens_are_utc_timestamps_with_microseconds_and_differ_by_the_microsecond() -> None:
    local = datetime(2026, 1, 2, 5, 4, 5, 123456, tzinfo=UTC).astimezone()
    assert requests.token(local) == "2026-01-02T05:04:05.123456Z"
    later = requests.token(local + timedelta(microseconds=1))
    assert later == "2026-01-02T05:04:05.123457Z"


@pytest.mark.parametrize(
    ("kind", "phase", "ignored"),
    [
        (Request.PROMOTE, Phase.PAUSED, False),
        (Request.PROMOTE, Phase.PROGRESSING, True),
        (Request.PROMOTE, Phase.HEALTHY, True),
        (Request.PROMOTE_FULL, Phase.PROGRESSING, False),
        (Request.PROMOTE_FULL, Phase.VALIDATING, True),
        (Request.ABORT, Phase.VALIDATING, False),
        (Request.ABORT, Phase.PROMOTING, False),
        (Request.ABORT, Phase.ROLLING_BACK, True),
        (Request.ABORT, Phase.HEALTHY, True),
        (Request.RETRY, Phase.ROLLED_BACK, False),
        (Request.RETRY, Phase.FAILED, False),
        (Request.RETRY, Phase.HEALTHY, True),
    ],
)
def test_a_request_the_operator_will_ignore_is_warned_about(
    kind: Request, phase: Phase, ignored: bool
) -> None:
    note = requests.warning(kind, phase=phase, name="iris")
    assert (note is not None) is ignored
    if note:
        assert note.startswith(f"warning: iris is {phase.value}; the operator acts on {kind.value}")


def _status_body(message: str, *, name: str | None = None) -> str:
    details = {"name": name, "group": "modelrollout.io", "kind": "modeldeployments"} if name else {}
    return json.dumps({"kind": "Status", "message": message, "details": details})


SERVER = "https://127.0.0.1:6443"


@pytest.mark.parametrize(
    ("status", "body", "verb", "name", "expected"),
    [
        (
            404,
            _status_body('modeldeployments.modelrollout.io "iris" not found', name="iris"),
            "get",
            "iris",
            "modeldeployment 'iris' in namespace 'ml' not found; list them with "
            "`kubectl model-rollout list -n ml` or choose the namespace with -n",
        ),
        (
            404,
            _status_body("the server could not find the requested resource"),
            "get",
            "iris",
            f"the API server at {SERVER} does not serve modeldeployments.modelrollout.io: the "
            "ModelDeployment CRD is not installed; install it with `model-rollout crd | kubectl "
            "apply -f -` or the Helm chart",
        ),
        (
            404,
            "404 page not found",
            "list",
            None,
            f"the API server at {SERVER} does not serve modeldeployments.modelrollout.io: the "
            "ModelDeployment CRD is not installed; install it with `model-rollout crd | kubectl "
            "apply -f -` or the Helm chart",
        ),
        (
            403,
            _status_body('User "bob" cannot patch resource "modeldeployments"'),
            "patch",
            "iris",
            "forbidden to patch modeldeployment 'iris' in namespace 'ml': User \"bob\" cannot "
            'patch resource "modeldeployments"; ask a cluster admin for RBAC to patch '
            "modeldeployments.modelrollout.io",
        ),
        (
            401,
            _status_body("Unauthorized"),
            "list",
            None,
            f"the API server at {SERVER} refused the credentials (Unauthorized); log in again or "
            "fix the kubeconfig",
        ),
        (
            503,
            "",
            "get",
            "iris",
            f"the API server at {SERVER} failed to get modeldeployment 'iris' in namespace 'ml' "
            "(HTTP 503); try again shortly",
        ),
        (
            422,
            _status_body("metadata.annotations: Invalid value"),
            "patch",
            "iris",
            "cannot patch modeldeployment 'iris' in namespace 'ml': metadata.annotations: "
            "Invalid value",
        ),
    ],
)
def test_api_failures_become_one_line_that_says_what_to_do(
    status: int, body: str, verb: str, name: str | None, expected: str
) -> None:
    got = kube.explain(
        status=status, body=body, verb=verb, name=name, namespace="ml", server=SERVER
    )
    assert got == expected
    assert "\n" not in got


@pytest.mark.parametrize(
    ("sequence", "code"),
    [
        ([o.md(phase="Progressing"), o.md(), o.healthy()], 0),
        ([o.md(), o.md(phase="RollingBack"), o.md(phase="RolledBack", canaryVersion=None)], 1),
        ([o.md(phase="Failed")], 1),
        # Healthy, but for an older spec: the new version's rollout has not been seen yet.
        ([o.healthy(generation=4, observed=3), o.healthy(generation=4, observed=4)], 0),
    ],
)
def test_watch_refreshes_every_two_seconds_until_a_terminal_phase(
    sequence: list[dict[str, Any]], code: int
) -> None:
    frames, slept = iter(sequence), list[float]()
    out = io.StringIO()
    result = main.watch(lambda: next(frames), out=out, sleep=slept.append, now=lambda: o.NOW)
    assert result == code
    assert slept == [2.0] * (len(sequence) - 1)
    assert out.getvalue().count("Name:") == len(sequence)
    assert out.getvalue().count("---\n") == len(sequence)  # frames are separated when not a tty
    assert next(frames, None) is None


def test_watch_with_json_output_prints_each_status_as_json() -> None:
    frames = iter([o.md(), o.healthy()])
    out = io.StringIO()
    main.watch(lambda: next(frames), out=out, output="json", sleep=lambda _: None)
    docs = [json.loads(chunk) for chunk in out.getvalue().split("---\n") if chunk.strip()]
    assert [d["phase"] for d in docs] == ["Paused", "Healthy"]


def _flaky(*steps: dict[str, Any] | kube.PluginError) -> Callable[[], dict[str, Any]]:
    pending = list(steps)

    def fetch() -> dict[str, Any]:
        step = pending.pop(0)
        if isinstance(step, kube.PluginError):
            raise step
        return step

    return fetch


def test_watch_rides_out_a_short_api_server_outage(capsys: pytest.CaptureFixture[str]) -> None:
    blip = kube.PluginError("cannot reach the API server", transient=True)
    fetch = _flaky(o.md(), blip, blip, o.healthy())
    out = io.StringIO()
    assert main.watch(fetch, out=out, sleep=lambda _: None, now=lambda: o.NOW) == 0
    assert capsys.readouterr().err.count("(retrying, ") == 2
    assert out.getvalue().count("Name:") == 2


def test_watch_gives_up_after_repeated_outages_and_at_once_on_a_lasting_error() -> None:
    blip = kube.PluginError("cannot reach the API server", transient=True)
    with pytest.raises(kube.PluginError, match="cannot reach"):
        main.watch(
            _flaky(*[blip] * main.WATCH_TRANSIENT_LIMIT), out=io.StringIO(), sleep=lambda _: None
        )
    gone = kube.PluginError("modeldeployment 'iris' in namespace 'ml' not found")
    with pytest.raises(kube.PluginError, match="not found"):
        main.watch(_flaky(o.md(), gone, o.healthy()), out=io.StringIO(), sleep=lambda _: None)
