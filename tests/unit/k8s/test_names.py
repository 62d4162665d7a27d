"""The longest name the API admits gives children whose names Kubernetes accepts; one more does not."""

from __future__ import annotations

import hashlib
import re

import pytest

from modelrollout import api
from modelrollout.k8s import names

pytestmark = pytest.mark.unit

DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
LONG_VERSION = "v" * 63


def service_names(md: str) -> list[str]:
    return [names.service(md), names.service(md, "stable"), names.service(md, "canary")]


def limited_names(md: str) -> list[str]:
    """Every child name or label value built from `md` that Kubernetes limits to 63 characters."""
    labels = names.pod_labels(md, track="canary", version=LONG_VERSION)
    return [
        *service_names(md),
        *labels.values(),
        *names.selector(md, "stable").values(),
        names.validation_job(md, LONG_VERSION, 12345),
    ]


def test_the_longest_admitted_name_gives_children_within_their_limits() -> None:
    md = "m" * api.MAX_NAME_LENGTH
    api.check_name(md)
    assert max(len(n) for n in limited_names(md)) == 63
    assert all(DNS_1035.fullmatch(s) for s in service_names(md))
    # Deployments are DNS subdomains (253); their pods are named by the controllers within limits.
    assert len(names.deployment(md, "canary")) <= 253


def test_one_more_character_would_give_a_service_name_kubernetes_refuses() -> None:
    md = "m" * (api.MAX_NAME_LENGTH + 1)
    assert max(len(n) for n in service_names(md)) == 64
    with pytest.raises(ValueError, match="at most 56"):
        api.check_name(md)


def test_validation_jobs_of_two_long_names_that_share_a_prefix_differ() -> None:
    first, second = "a" * 52 + "-one", "a" * 52 + "-two"
    assert names.validation_job(first, "2", 1) != names.validation_job(second, "2", 1)
    assert len(names.validation_job(first, "2", 1)) <= 63


def test_a_name_that_was_never_cut_keeps_its_job_name() -> None:
    # The digest of an uncut name is what it always was, so an upgrade starts no second Job.
    digest = hashlib.sha256(b"2/1").hexdigest()[:8]
    assert names.validation_job("iris", "2", 1) == f"iris-validate-2-{digest}"
