"""ModelDeployment objects as the API server returns them, for the plugin's tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


SPEC: dict[str, Any] = {
    "model": {"name": "iris", "version": "2", "uri": "file:///models/iris-2.skops"},
    "serving": {"replicas": 4},
    "rollout": {
        "steps": [
            {"setWeight": 20},
            {"pause": {"duration": "30s"}},
            {"analysis": {}},
            {"setWeight": 50},
            {"pause": {}},
            {"analysis": {"count": 1}},
        ]
    },
    "analysis": {
        "prometheus": {"address": "http://prometheus.monitoring:9090"},
        "interval": "30s",
        "count": 3,
        "metrics": [
            {"name": "accuracy", "min": 0.9, "compare": {"maxDrop": 0.02}},
            {"name": "latency_p99_ms", "max": 50},
            {"name": "error_rate", "max": 0.01},
        ],
    },
}

PAUSED_STATUS: dict[str, Any] = {
    "phase": "Paused",
    "observedGeneration": 3,
    "stableVersion": "1",
    "canaryVersion": "2",
    "canaryWeight": 50,
    "actualCanaryWeight": 42.857,
    "currentStep": 4,
    "stepStartedAt": ts(75),
    "phaseSince": ts(75),
    "pauseReason": "ManualPause",
    "message": "Step 4: paused until promoted; run `kubectl model-rollout promote iris` to go on.",
    "validation": {
        "version": "2",
        "job": "iris-validate-2",
        "passed": True,
        "metrics": {"accuracy": 0.9667, "latency_p99_ms": 1.25},
        "message": "Version 2 passed validation.",
    },
    "analysis": {
        "phase": "Successful",
        "step": 2,
        "runs": 1,
        "rounds": 3,
        "successful": 3,
        "lastMeasurements": [
            {"metric": "accuracy", "phase": "Successful", "value": 0.953, "measuredAt": ts(130)},
            {
                "metric": "latency_p99_ms",
                "phase": "Inconclusive",
                "message": "no data yet",
                "measuredAt": ts(130),
            },
        ],
    },
    "conditions": [
        {
            "type": "Available",
            "status": "True",
            "reason": "StableReady",
            "message": "Stable version 1 serves with 4/4 ready pods.",
            "lastTransitionTime": ts(3600),
        },
        {
            "type": "Paused",
            "status": "True",
            "reason": "ManualPause",
            "message": "waiting",
            "lastTransitionTime": ts(75),
        },
    ],
    "history": [
        {"version": "1", "outcome": "Promoted", "reason": "Promoted", "time": ts(7200)},
    ],
}


def md(
    *,
    name: str = "iris",
    namespace: str = "ml",
    generation: int = 3,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    **status_changes: Any,
) -> dict[str, Any]:
    """A ModelDeployment; by default paused for a person at step 4 with canary 2 at 50%."""
    body = copy.deepcopy(PAUSED_STATUS if status is None else status)
    body.update(status_changes)
    return {
        "apiVersion": "modelrollout.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": generation,
            "creationTimestamp": ts(90_000),
        },
        "spec": copy.deepcopy(SPEC if spec is None else spec),
        "status": body,
    }


def healthy(**kw: Any) -> dict[str, Any]:
    """Version 1 stable, nothing rolling."""
    status = {
        "phase": "Healthy",
        "observedGeneration": kw.pop("observed", 3),
        "stableVersion": "1",
        "canaryWeight": 0,
        "phaseSince": ts(600),
        "history": PAUSED_STATUS["history"],
    }
    return md(status=status, **kw)
