"""Controller turns, one at a time, against the fake Kube: the writes each of the brain's actions
becomes, the status written, and that a turn reads everything before it writes anything."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelrollout.k8s import names
from tests.unit.controller.cluster import (
    NS,
    VALIDATION,
    Bed,
    FixedProvider,
    FixedProviders,
    healthy,
    md,
)

pytestmark = pytest.mark.unit


def test_a_first_deployment_is_validated_in_a_job_then_runs_as_the_stable() -> None:
    bed = Bed()
    bed.create(md("1", validation=VALIDATION))
    status = bed.turn()
    assert status["phase"] == "Validating"
    assert bed.writes() == [("apply", "Service", "iris")]
    assert bed.events() == ["FirstDeployment"]
    status = bed.turn()
    (job,) = [w for w in bed.writes() if w[1] == "Job"]  # StartValidation
    assert job[0] == "apply"
    assert "ValidationStarted" in bed.events()
    bed.turn()
    assert bed.writes() == []  # the running Job is not applied again
    bed.finish_validation()
    status = bed.until("Healthy")
    assert bed.replicas("stable") == 2  # EnsureStable with the plan's replicas
    assert status["stableVersion"] == "1"
    assert status["validation"]["passed"] is True


def test_a_failed_validation_never_starts_the_version_and_says_why() -> None:
    bed = Bed()
    bed.create(md("1", validation=VALIDATION))
    bed.turn()
    bed.turn()
    bed.finish_validation(passed=False, message="accuracy 0.5 is below 0.9")
    status = bed.until("Failed")
    assert "accuracy 0.5 is below 0.9" in status["validation"]["message"]
    assert not bed.kube.has("Deployment", NS, "iris-stable")


def test_a_new_version_gets_a_canary_sized_for_its_weight_then_is_promoted() -> None:
    bed = healthy("1")
    bed.change(version="2")
    status = bed.until("Paused")
    assert status["canaryWeight"] == 25
    assert status["actualCanaryWeight"] == pytest.approx(100 / 3)  # 1 canary pod of 3
    assert bed.replicas("canary") == 1  # EnsureCanary: round(2 * 25 / 75), surge on a full stable
    assert bed.replicas("stable") == 2
    bed.annotate("promote")
    bed.until("Healthy")
    assert bed.replicas("stable") == 2
    assert bed.body["status"]["stableVersion"] == "2"
    stable = bed.kube.obj("Deployment", NS, "iris-stable")
    assert stable["spec"]["template"]["metadata"]["labels"][names.LABEL_VERSION] == "2"
    bed.turn()
    assert bed.writes() == [("scale", "Deployment", "iris-canary")]  # drained first, then
    bed.turn()
    assert bed.writes() == [("delete", "Deployment", "iris-canary")]  # DeleteCanary
    assert not bed.kube.has("Deployment", NS, "iris-canary")


def test_an_abort_scales_the_canary_it_no_longer_applies_down_to_nothing() -> None:
    bed = healthy("1")
    bed.change(version="2")
    bed.until("Paused")
    bed.annotate("abort")
    bed.turn()
    # SetWeight(0) scales the canary, which the brain no longer ensures, to the plan's 0 pods.
    assert ("scale", "Deployment", "iris-canary") in bed.writes()
    assert bed.replicas("canary") == 0
    status = bed.until("RolledBack")
    assert status["canaryWeight"] == 0
    assert status["stableVersion"] == "1"


def test_a_steady_turn_writes_nothing() -> None:
    bed = healthy("1")
    bed.change(version="2")
    bed.until("Paused")
    bed.turn()
    assert bed.kube.writes() == []


def test_a_passed_validation_job_is_deleted_as_the_canary_starts() -> None:
    bed = healthy("1")
    bed.change(version="2", validation=VALIDATION)
    bed.turn()
    bed.turn()
    (job,) = [k[2] for k in bed.kube.objects if k[0] == "Job"]
    bed.finish_validation()
    status = bed.turn()
    assert status["phase"] == "Progressing"
    assert ("delete", "Job", job) in bed.writes()  # DeleteValidation
    assert ("apply", "Deployment", "iris-canary") in bed.writes()
    assert status["validation"]["metrics"] == {"accuracy": 0.97}


def test_a_version_replaced_during_validation_has_its_job_deleted() -> None:
    bed = healthy("1")
    bed.change(version="2", validation=VALIDATION)
    bed.turn()
    bed.turn()
    (job,) = [k[2] for k in bed.kube.objects if k[0] == "Job"]
    bed.change(version="1")  # the stable version re-applied: abort at once
    status = bed.turn()
    assert ("delete", "Job", job) in bed.writes()
    assert status["phase"] == "Healthy"
    assert "StableReapplied" in bed.events()


def test_an_ignored_request_is_an_event() -> None:
    bed = healthy("1")
    bed.annotate("promote")
    bed.turn()
    assert "RequestIgnored" in bed.events()
    (event,) = [e for e in bed.kube.events if e["reason"] == "RequestIgnored"]
    assert event["type"] == "Warning"


def test_an_invalid_spec_is_reported_once_and_nothing_is_applied() -> None:
    bed = Bed()
    manifest = md("1")
    manifest["spec"]["serving"]["replicas"] = 0
    bed.create(manifest)
    status = bed.turn()
    assert "spec cannot be used" in status["message"]
    assert bed.writes() == []
    assert bed.events() == ["InvalidSpec"]
    bed.turn()
    assert bed.kube.writes() == []


def test_an_analysis_step_measures_the_canary_and_passes_on_good_values() -> None:
    prov = FixedProvider(value_now=0.95)
    bed = healthy("1")
    bed.providers = FixedProviders(prov)
    analysis = {"prometheus": {"address": "http://prometheus:9090"}, "interval": "30s",
                "count": 2, "metrics": [{"name": "accuracy", "min": 0.9}]}  # fmt: skip
    bed.change(
        version="2", analysis=analysis, rollout={"steps": [{"setWeight": 25}, {"analysis": {}}]}
    )
    status = bed.until("Healthy", turns=20, after=timedelta(seconds=31))
    assert status["stableVersion"] == "2"
    assert ("accuracy", "canary") in prov.asked


def test_no_data_halts_the_analysis_without_failing_it() -> None:
    prov = FixedProvider(value_now=None)
    bed = healthy("1")
    bed.providers = FixedProviders(prov)
    analysis = {"prometheus": {"address": "http://prometheus:9090"}, "interval": "30s",
                "inconclusiveLimit": 1, "metrics": [{"name": "accuracy", "min": 0.9}]}  # fmt: skip
    bed.change(
        version="2", analysis=analysis, rollout={"steps": [{"setWeight": 25}, {"analysis": {}}]}
    )
    status = bed.until("Paused", turns=20, after=timedelta(seconds=31))
    assert status["canaryWeight"] == 25
    assert status["stableVersion"] == "1"


def test_pods_not_ready_hold_the_step_where_it_is() -> None:
    bed = healthy("1")
    bed.kube.pods_ready = False
    bed.change(version="2")
    for _ in range(4):
        status = bed.turn()
    assert status["phase"] == "Progressing"
    assert status["currentStep"] == 0
    bed.kube.set_ready(NS, "iris-canary", 1)
    assert bed.until("Paused")["canaryWeight"] == 25


def test_the_no_traffic_router_runs_no_canary_pods() -> None:
    bed = healthy("1", rollout={"trafficRouting": {"none": {}}})
    bed.change(version="2")
    bed.until("Paused")
    assert bed.replicas("canary") == 0
    assert bed.replicas("stable") == 2


_AUTOSCALED = {
    "replicas": 2,
    "resources": {"requests": {"cpu": "100m"}},
    "autoscaling": {"minReplicas": 2, "maxReplicas": 8, "targetCPU": 60},
}


def test_autoscaling_applies_the_hpa_leaves_the_stable_to_it_and_the_canary_follows() -> None:
    bed = healthy("1", serving=_AUTOSCALED)
    hpa = bed.kube.obj("HorizontalPodAutoscaler", NS, "iris-stable")
    assert hpa["spec"]["maxReplicas"] == 8
    bed.turn()
    assert bed.writes() == []  # the HPA read this turn is unchanged: not applied again
    # The HPA controller raises the stable to 6 pods; no turn writes the stable's replicas back.
    stable = bed.kube.obj("Deployment", NS, "iris-stable")
    stable["spec"]["replicas"] = 6
    stable["status"]["readyReplicas"] = 6
    bed.change(version="2")
    bed.until("Paused")
    assert bed.replicas("stable") == 6
    assert bed.replicas("canary") == 2  # 25% beside 6 stable pods: round(6 * 25 / 75)


def test_turning_autoscaling_off_deletes_the_hpa() -> None:
    bed = healthy("1", serving=_AUTOSCALED)
    bed.change(serving={"replicas": 3})
    bed.turn()
    assert ("delete", "HorizontalPodAutoscaler", "iris-stable") in bed.writes()
    assert not bed.kube.has("HorizontalPodAutoscaler", NS, "iris-stable")
