"""The operator names itself without asking the passwd database, which a container may not have."""

from __future__ import annotations

import getpass

import pytest

from modelrollout.controller import main

pytestmark = pytest.mark.unit


def test_the_identity_needs_no_passwd_entry_for_the_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_entry() -> str:
        raise KeyError("getpwuid(): uid not found: 65532")

    monkeypatch.setattr(getpass, "getuser", no_entry)
    assert main.identity().startswith("model-rollout@")
