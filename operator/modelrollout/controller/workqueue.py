"""A deduplicating work queue of ModelDeployment keys, drained by a fixed number of workers.

As in client-go's workqueue: a key is queued at most once however often it is added, a key being
worked on is never worked on twice at once (an add meanwhile runs it again after), and each key
holds at most one timer for its next turn. So memory is bounded by the number of objects, and the
number of concurrent turns by the workers, however many objects there are. Used by the handlers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._added_at: dict[K, float] = {}

    def add(self, key: K) -> None:
        """Run a turn for key soon (once, however many times this is called meanwhile)."""
        self._cancel_timer(key)
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._added_at[key] = time.monotonic()
            self._ready.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Run a turn for key after `delay` seconds, unless one is already due sooner."""
        if delay <= 0:
            self.add(key)
            return
        due = time.monotonic() + delay
        held = self._timers.get(key)
        if held is not None and held[0] <= due:
            return
        self._cancel_timer(key)
        handle = asyncio.get_running_loop().call_later(delay, self._fire, key)
        self._timers[key] = (due, handle)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _cancel_timer(self, key: K) -> None:
        held = self._timers.pop(key, None)
        if held is not None:
            held[1].cancel()

    async def get(self) -> tuple[K, float]:
        """The next key and how long it waited in the queue (seconds)."""
        key = await self._ready.get()
        self._queued.discard(key)
        self._active.add(key)
        return key, time.monotonic() - self._added_at.pop(key, time.monotonic())

    def done(self, key: K) -> None:
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def forget(self, key: K) -> None:
        """The object is gone: drop its timer and any pending rerun."""
        self._cancel_timer(key)
        self._dirty.discard(key)

    def __len__(self) -> int:
        return len(self._queued)

    def timers(self) -> int:
        return len(self._timers)
