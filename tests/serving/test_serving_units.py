"""The server's pure parts without a process: settings, the feedback store, scoring, tensors."""

from __future__ import annotations

import re

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


def test_string_labels_count_their_text_not_just_pointers() -> None:
    short = np.array(["a"], dtype=object)
    long = np.array(["a" * 10_000], dtype=object)
    assert feedback.approximate_bytes("r", long) - feedback.approximate_bytes("r", short) >= 9_999
