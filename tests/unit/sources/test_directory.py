"""A folder of versions on the real file system: the highest complete version, or an error saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrollout import api
from modelrollout.sources import directory, pick

pytestmark = pytest.mark.unit


def _source(root: Path, file: str = "model.skops") -> api.DirectorySource:
    return api.DirectorySource(uri=root.as_uri() + "/", file=file)


def _version(root: Path, name: str, *, complete: bool = True) -> None:
    (root / name).mkdir()
    if complete:
        (root / name / "model.skops").write_bytes(b"model")


def test_the_highest_complete_version_is_picked_and_its_file_is_the_uri(tmp_path: Path) -> None:
    for name in ("1", "2", "10"):
        _version(tmp_path, name)
    _version(tmp_path, "11", complete=False)  # still being copied: no model file yet
    _version(tmp_path, "latest")
    found = directory.pick(_source(tmp_path))
    assert found.version == "10"
    assert found.uri == (tmp_path / "10" / "model.skops").as_uri()
    assert "1.10 > 1.9" in found.reason


def test_a_folder_without_versions_says_what_to_add(tmp_path: Path) -> None:
    _version(tmp_path, "latest")
    with pytest.raises(pick.SourceError, match=r"no version folder with model\.skops"):
        directory.pick(_source(tmp_path))


def test_a_missing_folder_says_to_mount_it(tmp_path: Path) -> None:
    with pytest.raises(pick.SourceError, match=r"cannot be listed.*mount it"):
        directory.pick(_source(tmp_path / "nope"))


def test_a_claim_is_read_where_the_operator_mounts_it_and_its_version_named_under_the_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_ROLLOUT_PVC_ROOT", str(tmp_path))
    store = tmp_path / "models" / "iris"
    store.mkdir(parents=True)
    for name in ("1.9", "1.10"):
        _version(store, name)
    found = directory.pick(api.DirectorySource(uri="pvc://models/iris/"))
    assert (found.version, found.uri) == ("1.10", "pvc://models/iris/1.10/model.skops")


def test_an_unmounted_claim_says_where_to_mount_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_ROLLOUT_PVC_ROOT", str(tmp_path))
    with pytest.raises(
        pick.SourceError,
        match=rf"mount the claim models in the operator's pod at {tmp_path}/models",
    ):
        directory.pick(api.DirectorySource(uri="pvc://models/"))


def test_a_claim_folder_may_not_leave_the_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_ROLLOUT_PVC_ROOT", str(tmp_path))
    with pytest.raises(pick.SourceError, match=r"leaves the claim 'models'"):
        directory.pick(api.DirectorySource(uri="pvc://models/../other/"))
