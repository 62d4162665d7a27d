"""The watch-fed Store's ModelDeployment copies and the background EventSink (k8s.informer, k8s.events)."""

from __future__ import annotations

import threading
from typing import Any

from modelrollout.k8s import events, informer


def md(rv: str, phase: str) -> dict[str, Any]:
    return {
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "ml", "resourceVersion": rv},
        "status": {"phase": phase},
    }


def test_a_fed_kind_is_held_but_not_listed_from_memory() -> None:
    store = informer.Store()
    store.feed("ModelDeployment")
    store.put("ModelDeployment", md("5", "Progressing"))
    assert store.fed("ModelDeployment")
    assert not store.fed("Deployment")
    # Fed one event at a time, never listed: a list of it must still go to the API server.
    assert not store.covers("ModelDeployment", "ml")
    assert store.get("ModelDeployment", "ml", "iris") == md("5", "Progressing")


def test_an_older_watch_event_does_not_undo_our_own_status_write() -> None:
    store = informer.Store()
    store.feed("ModelDeployment")
    store.put("ModelDeployment", md("7", "Paused"))  # our status write, as the server returned it
    store.put("ModelDeployment", md("6", "Progressing"))  # kopf's event of the write before it
    held = store.get("ModelDeployment", "ml", "iris")
    assert held is not None
    assert held["status"]["phase"] == "Paused"


def test_a_copy_handed_out_cannot_change_the_one_held() -> None:
    store = informer.Store()
    store.put("ModelDeployment", md("1", "Healthy"))
    got = store.get("ModelDeployment", "ml", "iris")
    assert got is not None
    got["status"]["phase"] = "Failed"
    again = store.get("ModelDeployment", "ml", "iris")
    assert again is not None
    assert again["status"]["phase"] == "Healthy"


def test_events_are_posted_in_order_by_the_sink_thread() -> None:
    posted: list[str] = []
    threads: set[str] = set()

    def post(event: dict[str, Any]) -> None:
        threads.add(threading.current_thread().name)
        posted.append(event["reason"])

    sink = events.EventSink(post)
    for reason in ("ValidationStarted", "CanaryScaled", "Promoted"):
        sink.put({"reason": reason})
    sink.close()
    assert posted == ["ValidationStarted", "CanaryScaled", "Promoted"]
    assert threads == {"events"}


def test_events_beyond_the_bound_are_dropped_and_counted_not_held() -> None:
    gate = threading.Event()
    posted: list[str] = []

    def post(event: dict[str, Any]) -> None:
        gate.wait(5)
        posted.append(event["reason"])

    sink = events.EventSink(post, max_pending=2)
    sink.put({"reason": "a"})  # taken by the thread at once, which then waits on the gate
    while sink.pending():
        pass
    for reason in ("b", "c", "d", "e"):
        sink.put({"reason": reason})
    assert sink.dropped == 2
    gate.set()
    sink.close()
    assert posted == ["a", "b", "c"]


def test_a_failing_post_does_not_stop_the_sink() -> None:
    posted: list[str] = []

    def post(event: dict[str, Any]) -> None:
        if event["reason"] == "bad":
            raise RuntimeError("403 forbidden")
        posted.append(event["reason"])

    sink = events.EventSink(post)
    sink.put({"reason": "bad"})
    sink.put({"reason": "good"})
    sink.close()
    assert posted == ["good"]
