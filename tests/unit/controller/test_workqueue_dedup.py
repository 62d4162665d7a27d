"""The work queue: a key is queued once however often it is added, never worked on twice at once,
and holds one timer, the soonest."""

from __future__ import annotations

import asyncio

import pytest

from modelrollout.controller import workqueue

pytestmark = pytest.mark.unit


def test_a_key_added_many_times_is_queued_once() -> None:
    async def run() -> list[str]:
        queue: workqueue.WorkQueue[str] = workqueue.WorkQueue()
        for key in ("a", "b", "a", "a"):
            queue.add(key)
        assert len(queue) == 2
        return [(await queue.get())[0], (await queue.get())[0]]

    assert asyncio.run(run()) == ["a", "b"]


def test_a_key_added_while_worked_on_runs_again_after_not_beside() -> None:
    async def run() -> None:
        queue: workqueue.WorkQueue[str] = workqueue.WorkQueue()
        queue.add("a")
        key, waited = await queue.get()
        assert (key, waited >= 0) == ("a", True)
        queue.add("a")
        assert len(queue) == 0  # held back while the turn runs
        queue.done("a")
        assert len(queue) == 1
        assert (await queue.get())[0] == "a"

    asyncio.run(run())


def test_only_the_soonest_timer_is_kept_and_forget_drops_it() -> None:
    async def run() -> None:
        queue: workqueue.WorkQueue[str] = workqueue.WorkQueue()
        queue.add_after("a", 60)
        queue.add_after("a", 0.01)
        queue.add_after("a", 30)  # later than the one held: ignored
        assert queue.timers() == 1
        assert (await asyncio.wait_for(queue.get(), timeout=5))[0] == "a"
        queue.done("a")
        queue.add_after("b", 60)
        queue.forget("b")
        assert queue.timers() == 0
        queue.add_after("c", 0)  # due now: queued at once
        assert len(queue) == 1

    asyncio.run(run())
