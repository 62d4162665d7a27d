"""Ground-truth feedback: the predictions kept per request id, and scoring truth against them.

The store is bounded per worker process, in entries, bytes and age; `serving.app` asks the other
workers when an id is not in its own store (see `serving.workers` for why it is not shared memory).
"""

from __future__ import annotations

import collections
import dataclasses
import numbers
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from modelrollout.serving import protocol

# Feedback usually arrives seconds to minutes after the prediction. 50,000 requests is over a
# minute and a half of history at 500 requests/s per worker, while a full store of 32-row requests
# stays around 25 MB, small beside the model in a serving pod's memory limit.
MAX_ENTRIES = 50_000
# The entry cap alone lets large batches (or long string labels) grow a worker without bound:
# 50,000 requests of 10,000 rows are 4 GB. 64 MiB keeps the 32-row case above under the entry cap.
MAX_BYTES = 64 * 1024 * 1024
# At low traffic the caps above would keep predictions for days; truth that comes an hour late
# no longer says much about the canary step it would be counted in, and the memory is held idle.
MAX_AGE_SECONDS = 3600
# Per entry beside the predictions' own bytes: the id string, the dict slot, the ndarray header.
ENTRY_OVERHEAD_BYTES = 250
# Why an entry left the store before its feedback came: the metric's `reason` label.
EVICTION_REASONS = ("entries", "bytes", "age")


def approximate_bytes(request_id: str, predictions: np.ndarray) -> int:
    size = ENTRY_OVERHEAD_BYTES + len(request_id) + predictions.nbytes
    if predictions.dtype.kind == "O":  # nbytes counts only the pointers to the labels
        size += sum(sys.getsizeof(v) for v in predictions.reshape(-1).tolist())
    return size


class FeedbackStore:
    """Predictions awaiting truth, and the ids already scored, so a second feedback is refused.

    Bounded by entries, by approximate bytes and by age; the oldest predictions are evicted first.
    """

    def __init__(
        self,
        *,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        max_age_seconds: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Insertion order is age order: `put` always appends, so the oldest entry is first.
        self._entries: collections.OrderedDict[str, tuple[np.ndarray, int, float]] = (
            collections.OrderedDict()
        )
        # Ids are at most 128 characters, so as many answered ids as entries cost a few MB.
        self._answered: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._max, self._max_bytes, self._max_age = max_entries, max_bytes, max_age_seconds
        self._clock = clock
        self.bytes = 0
        self.evicted = dict.fromkeys(EVICTION_REASONS, 0)

    @property
    def evictions(self) -> int:
        return sum(self.evicted.values())

    def __contains__(self, request_id: str) -> bool:
        self.expire()
        return request_id in self._entries

    def put(self, request_id: str, predictions: np.ndarray) -> int:
        """Keep `predictions` for `request_id`; returns how many entries were evicted."""
        before = self.evictions
        entries = self._entries
        self.take(request_id)
        self._answered.pop(request_id, None)  # an id may be reused once its feedback is in
        size = approximate_bytes(request_id, predictions)
        if size > self._max_bytes:
            # Keeping it would evict everything else and still not fit: the one request loses.
            self.evicted["bytes"] += 1
            return self.evictions - before
        entries[request_id] = (predictions, size, self._clock())
        self.bytes += size
        while len(entries) > self._max:
            self._pop_oldest("entries")
        while self.bytes > self._max_bytes:
            self._pop_oldest("bytes")
        return self.evictions - before

    def take(self, request_id: str) -> np.ndarray | None:
        """The predictions of `request_id`, removed so the same truth is never counted twice."""
        self.expire()
        entry = self._entries.pop(request_id, None)
        if entry is None:
            return None
        self.bytes -= entry[1]
        return entry[0]

    def expire(self) -> int:
        """Evict the predictions older than the age limit; returns how many."""
        entries, oldest_kept = self._entries, self._clock() - self._max_age
        expired = 0
        while entries and next(iter(entries.values()))[2] <= oldest_kept:
            self._pop_oldest("age")
            expired += 1
        return expired

    def _pop_oldest(self, reason: str) -> None:
        _, (_, size, _) = self._entries.popitem(last=False)
        self.bytes -= size
        self.evicted[reason] += 1

    def answered(self, request_id: str) -> None:
        """Remember that `request_id` was scored; the oldest such ids are forgotten first."""
        answered = self._answered
        answered[request_id] = None
        if len(answered) > self._max:
            answered.popitem(last=False)

    def was_answered(self, request_id: str) -> bool:
        return request_id in self._answered

    def __len__(self) -> int:
        return len(self._entries)


@dataclasses.dataclass(frozen=True)
class Feedback:
    id: str
    truth: list[Any]


@dataclasses.dataclass(frozen=True)
class Score:
    correct: int = 0
    incorrect: int = 0
    abs_errors: tuple[float, ...] = ()

    def as_json(self) -> dict[str, Any]:
        if self.abs_errors:
            return {"rows": len(self.abs_errors), "abs_errors": list(self.abs_errors)}
        return {
            "rows": self.correct + self.incorrect,
            "correct": self.correct,
            "incorrect": self.incorrect,
        }


def decode(body: bytes) -> Feedback:
    doc = protocol.parse_json(body)
    request_id, truth = doc.get("id"), doc.get("truth")
    if not isinstance(request_id, str) or not request_id:
        raise protocol.RequestError(
            400, "feedback needs 'id': the id of the inference request (echoed in its response)"
        )
    protocol.request_id(request_id, where="feedback 'id'")
    if truth is None:
        raise protocol.RequestError(400, "feedback needs 'truth': one true value per row")
    return Feedback(id=request_id, truth=truth if isinstance(truth, list) else [truth])


def score(*, kind: str, predictions: np.ndarray, truth: list[Any], request_id: str) -> Score:
    if len(truth) != len(predictions):
        raise protocol.RequestError(
            400,
            f"request {request_id!r} made {len(predictions)} predictions but the feedback has "
            f"{len(truth)} truth values; send one per row, in the order of the request",
        )
    if kind == "classifier":
        correct = sum(_same(p, t) for p, t in zip(predictions.tolist(), truth, strict=True))
        return Score(correct=correct, incorrect=len(truth) - correct)
    if not all(_is_number(t) for t in truth):
        raise protocol.RequestError(
            400, f"feedback for request {request_id!r}: a regression truth must be numbers"
        )
    errors = np.abs(predictions.astype(np.float64) - np.asarray(truth, dtype=np.float64))
    return Score(abs_errors=tuple(errors.tolist()))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _same(predicted: Any, truth: Any) -> bool:
    # JSON gives 1 where the model said 1.0, or "1" for the class 1: compare numbers as numbers.
    if _is_number(predicted) and _is_number(truth):
        return bool(float(predicted) == float(truth))
    if _is_number(predicted) and isinstance(truth, str):
        try:
            return float(predicted) == float(truth)
        except ValueError:
            return False
    return str(predicted) == str(truth)
