"""`model-rollout --version` answers like `model-rollout version`: the image's smoke check runs it."""

from __future__ import annotations

import pytest

import modelrollout
from modelrollout import cli

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("argv", [["--version"], ["version"]])
def test_the_version_flag_and_verb_print_the_package_version(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == f"{modelrollout.__version__}\n"


def test_an_unknown_flag_is_still_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--verbose"])
    assert exit_.value.code == 2
    assert "unknown command '--verbose'" in capsys.readouterr().err
