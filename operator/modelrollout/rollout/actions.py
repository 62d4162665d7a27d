"""What `decide` asks the controller to do; small frozen values, carried out in the given order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from modelrollout.api import ModelSpec, Reason


@dataclass(frozen=True)
class EnsureStable:
    """The stable Deployment runs `model` (replicas: the router's plan for the weight)."""

    model: ModelSpec


@dataclass(frozen=True)
class EnsureCanary:
    """The canary Deployment runs `model` (replicas: the router's plan for the weight)."""

    model: ModelSpec


@dataclass(frozen=True)
class SetWeight:
    """Route `weight` percent to the canary; the router moves it only onto ready pods."""

    weight: int


@dataclass(frozen=True)
class DeleteCanary:
    """Remove the canary Deployment (traffic has already left it)."""


@dataclass(frozen=True)
class StartValidation:
    """Create the validation Job for `model` (idempotent: an existing Job for it is kept)."""

    model: ModelSpec
    stable: ModelSpec | None


@dataclass(frozen=True)
class DeleteValidation:
    version: str


@dataclass(frozen=True)
class RecordEvent:
    reason: Reason
    message: str
    type: Literal["Normal", "Warning"] = "Normal"


Action: TypeAlias = (
    EnsureStable
    | EnsureCanary
    | SetWeight
    | DeleteCanary
    | StartValidation
    | DeleteValidation
    | RecordEvent
)
