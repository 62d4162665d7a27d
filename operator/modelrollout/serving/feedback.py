"""Ground-truth feedback: the predictions kept per request id, and scoring truth against them.

The store is a bounded LRU per worker process; `serving.app` asks the other workers when an id is
not in its own store (see `serving.workers` for why the store is not shared memory).
"""

from __future__ import annotations

import collections
import dataclasses
import numbers
import sys
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
# Per entry beside the predictions' own bytes: the id string, the dict slot, the ndarray header.
ENTRY_OVERHEAD_BYTES = 250


def approximate_bytes(request_id: str, predictions: np.ndarray) -> int:
    size = ENTRY_OVERHEAD_BYTES + len(request_id) + predictions.nbytes
    if predictions.dtype.kind == "O":  # nbytes counts only the pointers to the labels
        size += sum(sys.getsizeof(v) for v in predictions.reshape(-1).tolist())
    return size


class FeedbackStore:
    """Predictions awaiting truth, and the ids already scored, so a second feedback is refused.

    Bounded by entries and by approximate bytes; the oldest predictions are evicted first.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._entries: collections.OrderedDict[str, tuple[np.ndarray, int]] = (
            collections.OrderedDict()
        )
        # Ids are at most 128 characters, so as many answered ids as entries cost a few MB.
        self._answered: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._max, self._max_bytes = max_entries, max_bytes
        self.bytes = 0
        self.evictions = 0

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._entries

    def put(self, request_id: str, predictions: np.ndarray) -> int:
        """Keep `predictions` for `request_id`; returns how many older entries were evicted."""
        entries = self._entries
        self.take(request_id)
        self._answered.pop(request_id, None)  # an id may be reused once its feedback is in
        size = approximate_bytes(request_id, predictions)
        if size > self._max_bytes:
            # Keeping it would evict everything else and still not fit: the one request loses.
            self.evictions += 1
            return 1
        entries[request_id] = (predictions, size)
        self.bytes += size
        evicted = 0
        while len(entries) > self._max or self.bytes > self._max_bytes:
            _, (_, old) = entries.popitem(last=False)
            self.bytes -= old
            evicted += 1
        self.evictions += evicted
        return evicted

    def take(self, request_id: str) -> np.ndarray | None:
        """The predictions of `request_id`, removed so the same truth is never counted twice."""
        entry = self._entries.pop(request_id, None)
        if entry is None:
            return None
        self.bytes -= entry[1]
        return entry[0]

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
