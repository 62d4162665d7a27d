"""Posts core/v1 Events from one background thread, so a turn never waits on an Event's round trip.

Events are what `kubectl describe` shows, not rollout state (that is in status): a turn hands its
events over and goes on to write status. The queue is bounded; when the API server is too slow to take
them, the newest are dropped and counted rather than held in memory. Used by k8s.client.Kube.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
# Events waiting to be posted; at a few per rollout this is minutes of a thousand concurrent rollouts.
MAX_PENDING = 2000

Post = Callable[[dict[str, Any]], None]


class EventSink:
    """One thread posting events in the order they were handed over; `close` ends it."""

    def __init__(self, post: Post, *, max_pending: int = MAX_PENDING) -> None:
        self._post = post
        self._pending: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_pending)
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def put(self, event: dict[str, Any]) -> None:
        try:
            self._pending.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning(
                    "%d events dropped: the API server is not taking them fast enough", self.dropped
                )

    def pending(self) -> int:
        return self._pending.qsize()

    def close(self, *, timeout: float = 5.0) -> None:
        """Posts what is pending (for up to `timeout` seconds), then stops the thread."""
        try:
            self._pending.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while (event := self._pending.get()) is not None:
            try:
                self._post(event)
            except Exception:  # an event that cannot be posted is lost, never the rollout
                log.warning("could not post event %s", event.get("reason"), exc_info=True)
