"""The server's pure parts without a process: settings, the feedback store, scoring, tensors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from modelrollout.serving import config, feedback, protocol

pytestmark = pytest.mark.unit


def test_a_flag_wins_over_the_environment_which_wins_over_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODEL_ROLLOUT_MODEL_URI", "file:///env.skops")
    monkeypatch.setenv("MODEL_ROLLOUT_PORT", "9000")
    monkeypatch.setenv("MODEL_ROLLOUT_ALLOW_UNSAFE_PICKLE", "yes")
    settings = config.parse(["--port", "9100"])
    assert settings.model_uri == "file:///env.skops"
    assert settings.port == 9100
    assert settings.allow_unsafe_pickle is True
    assert settings.host == "0.0.0.0"
    assert settings.workers == 1
    assert settings.track == "stable"
    assert settings.grpc_port == 0, "gRPC is off unless asked for"
    assert config.parse(["--grpc-port", "8081"]).grpc_port == 8081


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"MODEL_ROLLOUT_PORT": "http"}, "--port (or MODEL_ROLLOUT_PORT) is 'http'"),
        ({"MODEL_ROLLOUT_TRACK": "blue"}, "use one of stable, canary"),
        ({"MODEL_ROLLOUT_ALLOW_UNSAFE_PICKLE": "maybe"}, "use true or false"),
        ({"MODEL_ROLLOUT_MAX_BODY_BYTES": "0"}, "at least 1"),
        (
            {"MODEL_ROLLOUT_HEAD_TIMEOUT_SECONDS": "ten"},
            "MODEL_ROLLOUT_HEAD_TIMEOUT_SECONDS) is 'ten'",
        ),
        ({"MODEL_ROLLOUT_IDLE_TIMEOUT_SECONDS": "0"}, "seconds from 0.05 to 86400"),
        ({"MODEL_ROLLOUT_IDLE_TIMEOUT_SECONDS": "nan"}, "seconds from 0.05 to 86400"),
        (
            {"MODEL_ROLLOUT_GRPC_PORT": "70000"},
            "--grpc-port (or MODEL_ROLLOUT_GRPC_PORT) is '70000'",
        ),
        (
            {"MODEL_ROLLOUT_PORT": "9000", "MODEL_ROLLOUT_GRPC_PORT": "9000"},
            "is '9000', the port REST is served on",
        ),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(config.ConfigError, match=re.escape(says)):
        config.parse(["--model-uri", "file:///m.skops"])


def test_the_store_forgets_the_least_recently_stored_request_first() -> None:
    store = feedback.FeedbackStore(max_entries=2)
    store.put("a", np.array([1]))
    store.put("b", np.array([2]))
    store.put("c", np.array([3]))
    assert len(store) == 2
    assert store.take("a") is None
    taken = store.take("b")
    assert taken is not None
    assert taken.tolist() == [2]
    assert store.take("b") is None


def test_classification_truth_compares_numbers_as_numbers_and_labels_as_text() -> None:
    predictions = np.array([1, 0, 2, 1])
    score = feedback.score(
        kind="classifier", predictions=predictions, truth=[1.0, "0", 1, "x"], request_id="r"
    )
    assert (score.correct, score.incorrect) == (2, 2)
    labels = np.array(["setosa", "virginica"], dtype=object)
    score = feedback.score(
        kind="classifier", predictions=labels, truth=["setosa", "setosa"], request_id="r"
    )
    assert (score.correct, score.incorrect) == (1, 1)


def test_regression_truth_gives_absolute_errors_and_refuses_booleans() -> None:
    score = feedback.score(
        kind="regressor", predictions=np.array([1.0, 5.0]), truth=[2, 2.5], request_id="r"
    )
    assert score.abs_errors == (1.0, 2.5)
    with pytest.raises(protocol.RequestError, match="must be numbers"):
        feedback.score(kind="regressor", predictions=np.array([1.0]), truth=[True], request_id="r")


def test_output_tensors_carry_the_datatype_of_their_values() -> None:
    assert protocol.tensor("p", np.array([1, 2]))["datatype"] == "INT64"
    assert protocol.tensor("p", np.array([1.5], dtype=np.float32))["datatype"] == "FP32"
    strings = protocol.tensor("p", np.array(["a", "b"], dtype=object))
    assert strings == {"name": "p", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]}
    proba = protocol.tensor("p", np.array([[0.25, 0.75]]))
    assert (
        protocol.dumps(proba) == b'{"name":"p","datatype":"FP64","shape":[1,2],"data":[0.25,0.75]}'
    )


def test_the_store_remembers_scored_ids_until_the_id_is_used_again() -> None:
    store = feedback.FeedbackStore(max_entries=2)
    store.put("a", np.array([1]))
    assert "a" in store
    assert store.take("a") is not None
    store.answered("a")
    assert store.was_answered("a")
    assert "a" not in store
    store.put("a", np.array([2]))
    assert not store.was_answered("a")
    for request_id in ("b", "c", "d"):
        store.answered(request_id)
    assert not store.was_answered("b"), "the oldest answered id is forgotten past the cap"
    assert store.was_answered("d")


def test_the_store_evicts_the_oldest_to_stay_within_its_byte_budget() -> None:
    row = np.zeros(1, dtype=np.int64)
    size = feedback.approximate_bytes("a", row)
    store = feedback.FeedbackStore(max_bytes=2 * size)
    assert [store.put(i, row) for i in ("a", "b", "c")] == [0, 0, 1]
    assert (len(store), store.bytes, store.evictions) == (2, 2 * size, 1)
    assert "a" not in store
    assert store.take("b") is not None
    assert store.bytes == size
    assert store.put("huge", np.zeros(1000, dtype=np.int64)) == 1, "too big to keep at all"
    assert (len(store), store.bytes, store.evictions) == (1, size, 2)
    assert store.evicted == {"entries": 0, "bytes": 2, "age": 0}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_store_drops_predictions_past_the_age_limit_oldest_first() -> None:
    clock = Clock()
    store = feedback.FeedbackStore(max_age_seconds=60, clock=clock)
    store.put("a", np.array([1]))
    clock.now += 30
    store.put("b", np.array([2]))
    clock.now += 29.9
    assert "a" in store, "59.9 s old is within the limit"
    clock.now += 0.1
    assert "a" not in store
    assert "b" in store
    assert store.evicted == {"entries": 0, "bytes": 0, "age": 1}
    assert store.bytes == feedback.approximate_bytes("b", np.array([2]))
    clock.now += 30
    assert store.take("b") is None, "a take must not return predictions past the limit"
    assert (len(store), store.bytes, store.evicted["age"]) == (0, 0, 2)


def test_an_id_stored_again_after_feedback_gets_a_fresh_age() -> None:
    clock = Clock()
    store = feedback.FeedbackStore(max_age_seconds=60, clock=clock)
    store.put("a", np.array([1]))
    store.put("b", np.array([1]))
    clock.now += 50
    assert store.take("a") is not None
    store.put("a", np.array([2]))
    clock.now += 20
    assert store.expire() == 1, "only b is 70 s old"
    assert store.take("a") is not None
    assert store.evicted["entries"] == 0


def test_string_labels_count_their_text_not_just_pointers() -> None:
    short = np.array(["a"], dtype=object)
    long = np.array(["a" * 10_000], dtype=object)
    assert feedback.approximate_bytes("r", long) - feedback.approximate_bytes("r", short) >= 9_999


def test_the_feedback_token_can_come_from_a_file_without_its_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_ROLLOUT_FEEDBACK_TOKEN", raising=False)
    path = tmp_path / "token"
    path.write_text("s3cret-token\n")
    settings = config.parse(["--model-uri", "file:///m.skops", "--feedback-token-file", str(path)])
    assert settings.feedback_token == "s3cret-token"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "content", "says"),
    [
        ({"MODEL_ROLLOUT_FEEDBACK_TOKEN": "a"}, "b", "set both in MODEL_ROLLOUT_FEEDBACK_TOKEN"),
        ({}, None, "cannot be read"),
        ({}, "\n", "holds no usable feedback token"),
        ({}, "two words", "one word of printable ASCII"),
        ({"MODEL_ROLLOUT_FEEDBACK_TOKEN": ""}, "", "MODEL_ROLLOUT_FEEDBACK_TOKEN holds no usable"),
        ({"MODEL_ROLLOUT_FEEDBACK_TOKEN": "caf\u00e9"}, "", "one word of printable ASCII"),
    ],
    ids=["env-and-file", "missing-file", "empty-file", "spaces", "empty-env", "non-ascii-env"],
)
def test_an_unusable_feedback_token_stops_the_server_naming_where_it_came_from(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    content: str | None,
    says: str,
) -> None:
    monkeypatch.delenv("MODEL_ROLLOUT_FEEDBACK_TOKEN", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = ["--model-uri", "file:///m.skops"]
    path = tmp_path / "token"
    if content is None:
        args += ["--feedback-token-file", str(path)]
    elif content:
        path.write_text(content)
        args += ["--feedback-token-file", str(path)]
    with pytest.raises(config.ConfigError, match=re.escape(says)):
        config.parse(args)
