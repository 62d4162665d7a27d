"""spec.serving.feedbackAuth: the Secret key the server's feedback token comes from."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelrollout import api
from modelrollout.k8s import builders
from modelrollout.serving import config

pytestmark = pytest.mark.unit


def _env(serving: dict[str, Any]) -> list[dict[str, Any]]:
    dep = builders.server_deployment(
        md_name="iris",
        namespace="ml",
        owner=builders.owner_reference(name="iris", uid="u-1"),
        track="canary",
        model=api.ModelSpec(name="iris", version="2", uri="file:///models/iris-2.skops"),
        serving=api.ServingSpec.model_validate(serving),
        replicas=1,
        default_image="ghcr.io/acme/model-rollout:0.1.0",
    )
    env: list[dict[str, Any]] = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


def test_feedback_auth_puts_the_secret_key_in_the_servers_token_variable() -> None:
    env = _env({"feedbackAuth": {"secretName": "iris-feedback", "key": "bearer"}})
    assert {
        "name": "MODEL_ROLLOUT_FEEDBACK_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "iris-feedback", "key": "bearer"}},
    } in env
    # Never as an argument, which anyone listing the node's processes could read.
    assert all("FEEDBACK" not in str(e.get("value", "")) for e in env)


def test_the_key_defaults_to_token_and_no_auth_sets_no_token() -> None:
    env = _env({"feedbackAuth": {"secretName": "iris-feedback"}})
    token = [e for e in env if e["name"] == api.FEEDBACK_TOKEN_ENV]
    assert token == [
        {
            "name": api.FEEDBACK_TOKEN_ENV,
            "valueFrom": {"secretKeyRef": {"name": "iris-feedback", "key": "token"}},
        }
    ]
    assert all(e["name"] != api.FEEDBACK_TOKEN_ENV for e in _env({}))


def test_the_variable_is_the_one_the_server_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(api.FEEDBACK_TOKEN_ENV, "s3cret")
    assert config.parse(["--model-uri", "file:///m.skops"]).feedback_token == "s3cret"


@pytest.mark.parametrize(
    ("serving", "says"),
    [
        (
            {
                "feedbackAuth": {"secretName": "a"},
                "env": [{"name": "MODEL_ROLLOUT_FEEDBACK_TOKEN", "value": "x"}],
            },
            "set feedbackAuth or an env entry named MODEL_ROLLOUT_FEEDBACK_TOKEN, not both",
        ),
        ({"feedbackAuth": {"secretName": "Not_A_Name"}}, "secretName"),
        ({"feedbackAuth": {"secretName": "a", "key": "a/b"}}, "key"),
        ({"feedbackAuth": {}}, "secretName"),
        ({"feedbackAuth": {"secretName": "a", "token": "inline"}}, "Extra inputs"),
    ],
    ids=["both-ways", "bad-secret-name", "bad-key", "no-secret-name", "inline-token"],
)
def test_a_bad_feedback_auth_is_refused_naming_the_field(
    serving: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        api.ServingSpec.model_validate(serving)


def test_the_token_variable_alone_in_env_is_still_allowed() -> None:
    ref = {"secretKeyRef": {"name": "s", "key": "k"}}
    env = _env({"env": [{"name": api.FEEDBACK_TOKEN_ENV, "valueFrom": ref}]})
    assert {"name": api.FEEDBACK_TOKEN_ENV, "valueFrom": ref} in env
