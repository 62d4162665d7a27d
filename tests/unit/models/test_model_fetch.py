"""fetch_to_path: every URI scheme, and the errors a user reads when one is wrong."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelrollout.models import fetch

pytestmark = pytest.mark.unit


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "store" / "model.skops"
    path.parent.mkdir()
    path.write_bytes(b"model bytes")
    return path


@pytest.fixture
def http_root(artifact: Path) -> Iterator[str]:
    directory = str(artifact.parent)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=directory, **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_file_uri_resolves_to_the_file_itself(artifact: Path) -> None:
    assert fetch.fetch_to_path(f"file://{artifact}") == artifact


def test_a_bare_path_is_taken_as_a_file(artifact: Path) -> None:
    assert fetch.fetch_to_path(str(artifact)) == artifact


def test_a_missing_file_names_the_uri_and_says_to_check_it(tmp_path: Path) -> None:
    with pytest.raises(fetch.FetchError, match=r"nothing\.skops.*does not exist; check the URI"):
        fetch.fetch_to_path(f"file://{tmp_path}/nothing.skops")


def test_a_pvc_uri_resolves_under_the_mount_root(
    artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(fetch.PVC_ROOT_ENV, str(artifact.parent.parent))
    assert fetch.fetch_to_path("pvc://store/model.skops") == artifact


def test_a_pvc_uri_may_not_climb_out_of_its_claim(
    artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(fetch.PVC_ROOT_ENV, str(artifact.parent.parent))
    with pytest.raises(fetch.FetchError, match="leaves the claim 'store'"):
        fetch.fetch_to_path("pvc://store/../../etc/passwd")


def test_a_pvc_uri_without_a_path_says_what_the_shape_is() -> None:
    with pytest.raises(fetch.FetchError, match=r"pvc://<claim>/<path"):
        fetch.fetch_to_path("pvc://claim-only")


def test_an_unmounted_claim_says_to_check_the_mount(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fetch.PVC_ROOT_ENV, "/nonexistent-root")
    with pytest.raises(fetch.FetchError, match="claim is mounted"):
        fetch.fetch_to_path("pvc://models/iris.skops")


def test_an_http_artifact_is_downloaded_into_the_cache_keeping_its_name(
    http_root: str, tmp_path: Path
) -> None:
    path = fetch.fetch_to_path(f"{http_root}/model.skops", cache_dir=tmp_path / "cache")
    assert path.parent == tmp_path / "cache"
    assert path.name.endswith("-model.skops")
    assert path.read_bytes() == b"model bytes"
    assert not list((tmp_path / "cache").glob("*.part"))


def test_two_uris_with_the_same_file_name_do_not_share_a_cache_file(
    http_root: str, tmp_path: Path
) -> None:
    a = fetch.fetch_to_path(f"{http_root}/model.skops", cache_dir=tmp_path)
    b = fetch.fetch_to_path(f"{http_root}/./model.skops", cache_dir=tmp_path)
    assert a != b


def test_an_http_error_status_is_reported_with_the_code(http_root: str, tmp_path: Path) -> None:
    with pytest.raises(fetch.FetchError, match="answered HTTP 404"):
        fetch.fetch_to_path(f"{http_root}/missing.skops", cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())


def test_an_unreachable_server_is_a_fetch_error(tmp_path: Path) -> None:
    with pytest.raises(fetch.FetchError, match="check the address"):
        fetch.fetch_to_path("http://127.0.0.1:9/model.skops", cache_dir=tmp_path)


def test_an_unknown_scheme_lists_the_supported_ones() -> None:
    with pytest.raises(fetch.FetchError, match=r"unsupported scheme 'ftp'.*pvc://"):
        fetch.fetch_to_path("ftp://host/model.skops")


def test_s3_without_boto3_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(fetch.FetchError, match=r"model-rollout\[s3\]"):
        fetch.fetch_to_path("s3://bucket/model.skops", cache_dir=tmp_path)
