"""fetch_to_path against hostile servers: redirects off the host or off TLS, and oversize bodies."""

from __future__ import annotations

import dataclasses
import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelrollout.models import fetch

pytestmark = pytest.mark.unit

BODY = b"0123456789" * 100


@dataclasses.dataclass
class Route:
    status: int = 200
    location: str | None = None
    body: bytes = BODY
    # False: no Content-Length, the body ends when the connection closes (what a lying or
    # streaming server sends).
    declare_length: bool = True


@dataclasses.dataclass
class Server:
    base: str
    routes: dict[str, Route]
    requests: list[str]


def _serve(host: str, *, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    routes: dict[str, Route] = {}
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            route = routes.get(self.path, Route(status=404, body=b""))
            self.send_response(route.status)
            if route.location is not None:
                self.send_header("Location", route.location)
            if route.declare_length:
                self.send_header("Content-Length", str(len(route.body)))
            else:
                self.close_connection = True
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    yield Server(f"{scheme}://{host}:{server.server_address[1]}", routes, requests)
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def origin() -> Iterator[Server]:
    yield from _serve("127.0.0.1")


@pytest.fixture
def elsewhere() -> Iterator[Server]:
    # Another loopback address is another host as far as a URI goes.
    yield from _serve("127.0.0.2")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate for a local https server")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_origin(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # httpx trusts SSL_CERT_FILE, so the client side verifies for real against this one cert.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    yield from _serve("127.0.0.1", tls=context)


@pytest.fixture
def fetch_into(tmp_path: Path) -> Callable[[str], Path]:
    return lambda uri: fetch.fetch_to_path(uri, cache_dir=tmp_path / "cache")


def cached(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").glob("*")) if (tmp_path / "cache").exists() else []


def test_a_redirect_on_the_same_host_is_followed(
    origin: Server, fetch_into: Callable[[str], Path]
) -> None:
    origin.routes["/old.skops"] = Route(status=301, location="/v2/model.skops", body=b"")
    origin.routes["/v2/model.skops"] = Route()
    assert fetch_into(f"{origin.base}/old.skops").read_bytes() == BODY
    assert origin.requests == ["/old.skops", "/v2/model.skops"]


def test_a_redirect_to_another_host_is_refused_before_it_is_requested(
    origin: Server, elsewhere: Server, fetch_into: Callable[[str], Path], tmp_path: Path
) -> None:
    elsewhere.routes["/model.skops"] = Route(body=b"someone else's model")
    origin.routes["/model.skops"] = Route(
        status=302, location=f"{elsewhere.base}/model.skops", body=b""
    )
    uri = f"{origin.base}/model.skops"
    with pytest.raises(fetch.FetchError, match="redirects to another host") as caught:
        fetch_into(uri)
    assert repr(uri) in str(caught.value)
    assert "put the final URI in the spec" in str(caught.value)
    assert elsewhere.requests == []
    assert cached(tmp_path) == []


def test_a_redirect_from_https_to_http_is_refused(
    tls_origin: Server, origin: Server, fetch_into: Callable[[str], Path]
) -> None:
    origin.routes["/model.skops"] = Route(body=b"unprotected model")
    tls_origin.routes["/model.skops"] = Route(
        status=307, location=f"{origin.base}/model.skops", body=b""
    )
    with pytest.raises(fetch.FetchError, match="from https to plain http"):
        fetch_into(f"{tls_origin.base}/model.skops")
    assert tls_origin.requests == ["/model.skops"]
    assert origin.requests == []


def test_the_https_server_itself_is_fetched_and_verified(
    tls_origin: Server, fetch_into: Callable[[str], Path]
) -> None:
    # The refusal above is the redirect's, not a TLS failure of the test's own server.
    tls_origin.routes["/model.skops"] = Route()
    assert fetch_into(f"{tls_origin.base}/model.skops").read_bytes() == BODY


def test_a_redirect_loop_ends_in_an_error_saying_so(
    origin: Server, fetch_into: Callable[[str], Path]
) -> None:
    origin.routes["/model.skops"] = Route(status=302, location="/model.skops", body=b"")
    with pytest.raises(fetch.FetchError, match=f"more than {fetch.MAX_REDIRECTS} redirects"):
        fetch_into(f"{origin.base}/model.skops")
    assert len(origin.requests) == fetch.MAX_REDIRECTS + 1


@pytest.mark.parametrize("declare_length", [True, False], ids=["declared", "undeclared"])
def test_a_body_over_the_limit_is_refused_naming_the_uri_and_the_limit(
    origin: Server,
    fetch_into: Callable[[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    declare_length: bool,
) -> None:
    origin.routes["/big.skops"] = Route(body=b"x" * 5000, declare_length=declare_length)
    monkeypatch.setenv(fetch.MAX_BYTES_ENV, "4096")
    uri = f"{origin.base}/big.skops"
    with pytest.raises(fetch.FetchError) as caught:
        fetch_into(uri)
    message = str(caught.value)
    assert repr(uri) in message
    assert "over the download limit of 4.0 KiB (4096 bytes)" in message
    assert fetch.MAX_BYTES_ENV in message
    assert cached(tmp_path) == []


def test_a_body_exactly_at_the_limit_is_downloaded(origin: Server, tmp_path: Path) -> None:
    origin.routes["/model.skops"] = Route(declare_length=False)
    path = fetch.fetch_to_path(
        f"{origin.base}/model.skops", cache_dir=tmp_path, max_bytes=len(BODY)
    )
    assert path.read_bytes() == BODY


def test_the_default_limit_is_two_gib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fetch.MAX_BYTES_ENV, raising=False)
    assert fetch.max_download_bytes("https://models.example/m.skops") == 2 * 1024**3


@pytest.mark.parametrize("value", ["2GiB", "-1", "0", "1e9"])
def test_a_malformed_limit_names_the_variable_and_the_value(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(fetch.MAX_BYTES_ENV, value)
    with pytest.raises(fetch.FetchError, match=rf"{fetch.MAX_BYTES_ENV}='{value}'.*positive"):
        fetch.max_download_bytes("https://models.example/m.skops")
