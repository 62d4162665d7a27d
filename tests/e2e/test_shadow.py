"""A shadow step end to end: the new version answers copies of live requests, never a client, and
is judged on them by spec.analysis (its online accuracy from feedback on the same request ids, its
agreement with the stable); a worse one is rolled back, a good one promoted.

Real serving pods, real Prometheus, live traffic with ground truth; examples/iris-shadow.yaml with
this bed's models, Prometheus and shorter intervals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e import support
from tests.testbed_client import Testbed, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

EXAMPLE = support.REPO / "examples" / "iris-shadow.yaml"


def manifest(testbed: Testbed, *, version: str, artifact: str) -> dict[str, Any]:
    (md,) = support.shadow_example(EXAMPLE, testbed, version=version, artifact=artifact)
    return md


def shadow_rollout(
    testbed: Testbed, namespace: str, models: Path, *, artifact: str
) -> tuple[dict[str, Any], dict[str, int], float]:
    """v1 stable, then version 2 (`artifact`) through the shadow step under live traffic.

    Returns the final status, the client answers by version, and the requests the shadow answered."""
    rows, truth = support.read_rows(models / "data" / "iris-test.csv", target="species")
    v1 = manifest(testbed, version="1", artifact="iris-v1.skops")
    support.apply(testbed, namespace, v1)
    support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)
    with support.traffic(testbed, namespace, rows=rows, truth=truth, seed=13) as gen:
        v2 = manifest(testbed, version="2", artifact=artifact)
        support.apply(testbed, namespace, v2)
        eventually(
            lambda: support.status(testbed, namespace, "iris").get("canaryVersion") == "2",
            timeout=60,
            what="the shadow rollout of version 2 to start",
        )
        st = support.wait_phase(
            testbed, namespace, "iris", {"Promoting", "Healthy", "RolledBack", "Failed"},
            timeout=300,
        )  # fmt: skip
        answered = dict(gen.stats().by_version)
    shadow_answers = sum(
        float(s["value"][1])
        for s in testbed.query(
            f'sum(model_requests_total{{namespace="{namespace}",track="canary",'
            'version="2",code="200"})'
        )
    )
    return st, answered, shadow_answers


def test_a_worse_shadow_is_rolled_back_having_answered_no_client(
    testbed: Testbed, namespace: str, operator: support.Operator, models: Path
) -> None:
    st, answered, shadow_answers = shadow_rollout(
        testbed, namespace, models, artifact="iris-inaccurate.skops"
    )
    assert st["phase"] in {"RolledBack", "Failed"}, st
    assert "AnalysisFailed" in {h["reason"] for h in st.get("history", [])} | {
        c.get("reason") for c in st.get("conditions", [])
    }, st
    assert answered.get("2", 0) == 0, answered
    assert answered.get("1", 0) > 100, answered
    # It was judged on real copies: it answered the stable's mirrored requests.
    assert shadow_answers > 50, shadow_answers


def test_a_good_shadow_passes_and_is_promoted(
    testbed: Testbed, namespace: str, operator: support.Operator, models: Path
) -> None:
    st, answered, shadow_answers = shadow_rollout(
        testbed, namespace, models, artifact="iris-v2.skops"
    )
    assert st["phase"] in {"Promoting", "Healthy"}, st
    # Until the step passed, no client was answered by it; promotion then moves traffic.
    assert shadow_answers > 50, shadow_answers
    measured = {m["metric"]: m for m in (st.get("analysis") or {}).get("lastMeasurements", [])}
    assert measured["agreement"]["phase"] == "Successful", measured
    assert measured["accuracy"]["phase"] == "Successful", measured
    support.wait_phase(testbed, namespace, "iris", {"Healthy"}, timeout=120)
    assert answered.get("1", 0) > 100, answered
