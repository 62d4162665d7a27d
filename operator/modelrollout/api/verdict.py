"""The validator's verdict: the compact JSON its pod leaves as termination message.

One model for both sides: validation/verdict.py writes it, controller/observe.py reads it back.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelrollout.api.base import StatusModel

ValidationOutcome = Literal["passed", "failed", "error"]


class FailedCheck(StatusModel):
    """A check that failed, with its figure and the bound it missed (absent when unknown)."""

    name: str
    value: float | None = None
    min: float | None = None
    max: float | None = None
    message: str | None = None


class ValidationVerdict(StatusModel):
    """What the validation Job concluded about one model version, under 4096 bytes on the wire."""

    outcome: ValidationOutcome
    passed: bool
    message: str = ""
    failed: list[FailedCheck] = Field(default_factory=list)
    failed_omitted: int | None = None
    """How many failed checks were left out to fit the termination message."""
    metrics: dict[str, float | int | bool | str | None] = Field(default_factory=dict)
    """Quality and other figures, for status.validation.metrics (numbers only are kept there)."""

    def wire(self) -> bytes:
        """The compact JSON the pod writes; fields without a value are left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    @classmethod
    def from_logs(cls, text: str) -> ValidationVerdict:
        """A verdict from a validator that could not even start: its last log lines say why."""
        return cls(outcome="error", passed=False, message=text.strip()[-1000:])
