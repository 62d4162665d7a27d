"""The rollout brain: pure functions from (spec, status, observation, now) to (status, actions).

No kopf, no Kubernetes client, no HTTP, no clock reads: time is an argument, and an import-linter
contract keeps it so. The controller observes, calls `decide`, carries out the actions, writes status.
"""

from modelrollout.rollout.actions import (
    Action,
    DeleteCanary,
    DeleteValidation,
    EnsureCanary,
    EnsureStable,
    RecordEvent,
    SetWeight,
    StartValidation,
)
from modelrollout.rollout.brain import Decision, decide
from modelrollout.rollout.observation import (
    ContainerDeath,
    ManualRequest,
    Observation,
    Request,
    Traffic,
    ValidationResult,
    Workload,
)
from modelrollout.rollout.timing import measurement_due, mirror_percent, next_measurement_at

__all__ = [
    "Action",
    "ContainerDeath",
    "Decision",
    "DeleteCanary",
    "DeleteValidation",
    "EnsureCanary",
    "EnsureStable",
    "ManualRequest",
    "Observation",
    "RecordEvent",
    "Request",
    "SetWeight",
    "StartValidation",
    "Traffic",
    "ValidationResult",
    "Workload",
    "decide",
    "measurement_due",
    "mirror_percent",
    "next_measurement_at",
]
