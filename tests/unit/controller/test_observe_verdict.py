"""The operator reads the validator's verdict with the model the validator writes it with."""

from __future__ import annotations

from typing import Any

import pytest

from modelrollout import api, rollout
from modelrollout.controller import observe
from modelrollout.k8s import names
from modelrollout.traffic import router
from modelrollout.validation import results, verdict

pytestmark = pytest.mark.unit


def world(*, job_status: dict[str, Any], message: str) -> observe.World:
    job = {
        "metadata": {"name": "iris-validate-2", "labels": {names.LABEL_VERSION: "2"}},
        "status": job_status,
    }
    pod = {
        "metadata": {"name": "iris-validate-2-x"},
        "status": {"containerStatuses": [{"state": {"terminated": {"message": message}}}]},
    }
    return observe.World(
        stable=None,
        canary=None,
        service=None,
        target=router.Target(namespace="ml", stable_service="s", canary_service="c", port=8080),
        routing={},
        readiness=router.Readiness(stable_ready=0, canary_ready=0),
        validation_jobs=(job,),
        validation_pods=(pod,),
    )


def test_a_failed_verdict_written_by_the_validator_reaches_the_brain_whole() -> None:
    check = results.CheckResult(
        name="quality.accuracy", passed=False, value=0.5, min=0.9, message="accuracy is 0.5"
    )
    full = verdict.report(checks=[check], subject="model m", context={"metrics": {"f1": 0.4}})
    written = verdict.compact(full).decode()
    assert api.ValidationVerdict.model_validate_json(written).failed[0].min == 0.9
    seen = observe.validation(world(job_status={"failed": 1}, message=written), version="2")
    assert seen == rollout.ValidationResult(
        version="2", state="failed", message=full["message"], metrics={"f1": 0.4}
    )


def test_a_validator_that_never_started_leaves_its_last_log_lines_as_the_message() -> None:
    seen = observe.validation(
        world(job_status={"failed": 1}, message="Traceback ...\nImportError: numpy\n"),
        version="2",
    )
    assert seen is not None
    assert seen.message == "Traceback ...\nImportError: numpy"
