"""The CLI's client of the service on the wire: where a download's redirect may take the
token, how an upload's form is laid out (the sha256 before the file, or after it), and the
store's size limit said before a byte is sent. Against local HTTP servers on 127.0.0.1
that log what they were sent; the round trips through a real ``ferry serve`` are in
test_packages_cli.py."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_multipart.multipart import MultipartParser, parse_options_header

from ferry.cli.client import ServiceClient
from ferry.cli.main import main
from ferry.errors import ExitCode, FetchError, NotAllowed
from support.served import LoopbackHandler, ServedOnLoopback

pytestmark = pytest.mark.timeout(60)

BODY = os.urandom(3 * 1024 * 1024 + 11)  # more than one piece of the client's


class _Site(ServedOnLoopback):
    """Answers from ``routes``: path, or "METHOD path", → (status, headers, body); records
    every request's headers and body."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.routes = routes
        self.bodies: list[bytes] = []
        site = self

        class Handler(LoopbackHandler):
            served = site

            def _answer(self) -> None:
                site.record_request(self.command, self.path, self.headers)
                length = int(self.headers.get("Content-Length") or 0)
                site.bodies.append(self.rfile.read(length) if length else b"")
                path = self.path.partition("?")[0]
                status, headers, body = site.routes.get(
                    f"{self.command} {path}", site.routes.get(path, (404, {}, b"{}"))
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

        super().__init__(Handler)


@pytest.fixture
def storage() -> Iterator[_Site]:
    with _Site({"/bucket/blob": (200, {}, BODY)}) as site:
        yield site


def _download(server: str, path: str, into: Path) -> str:
    with ServiceClient(server, "ferry_secret") as client, into.open("wb") as fh:
        return client.download(path, fh, lambda _n: None)


def test_a_redirect_to_other_storage_does_not_take_the_token(
    storage: _Site, tmp_path: Path
) -> None:
    to_storage = {"Location": storage.base + "/bucket/blob?X-Amz-Signature=abc"}
    with _Site({"/download": (307, to_storage, b"")}) as ferry:
        digest = _download(ferry.base, "/download?redirect=1", tmp_path / "got")
        assert ferry.request_headers("/download")[0]["authorization"] == "Bearer ferry_secret"
    assert digest == hashlib.sha256(BODY).hexdigest()
    assert (tmp_path / "got").read_bytes() == BODY
    assert "authorization" not in storage.request_headers("/bucket/blob")[0]


def test_a_redirect_on_the_same_server_keeps_it(tmp_path: Path) -> None:
    with _Site({"/bucket/blob": (200, {}, BODY)}) as ferry:
        ferry.routes["/download"] = (302, {"Location": "/bucket/blob"}, b"")
        _download(ferry.base, "/download", tmp_path / "got")
        assert ferry.request_headers("/bucket/blob")[0]["authorization"] == "Bearer ferry_secret"


def test_redirects_elsewhere_or_in_circles_are_refused(tmp_path: Path) -> None:
    with _Site({"/download": (307, {"Location": "file:///etc/passwd"}, b"")}) as ferry:
        with pytest.raises(FetchError, match="redirected a download"):
            _download(ferry.base, "/download", tmp_path / "got")
        ferry.routes["/download"] = (307, {"Location": "/download"}, b"")
        with pytest.raises(FetchError, match="more than 3 times"):
            _download(ferry.base, "/download", tmp_path / "got")


def test_an_error_is_said_in_the_server_s_words(tmp_path: Path) -> None:
    refusal = b'{"message": "this token may only read"}'
    answer = (403, {"Content-Type": "application/json"}, refusal)
    with (
        _Site({"/download": answer}) as ferry,
        pytest.raises(NotAllowed, match="403: this token may only read"),
    ):
        _download(ferry.base, "/download", tmp_path / "got")


def _parts(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """The form's parts as python-multipart reads them: (name, value), in order."""
    _, options = parse_options_header(content_type)
    parts: list[tuple[str, bytes]] = []
    header = bytearray()
    value = bytearray()

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header.extend(data[start:end])

    def on_header_end() -> None:
        _, found = parse_options_header(bytes(header))
        if b"name" in found:
            parts.append((found[b"name"].decode(), b""))
        header.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_part_end() -> None:
        parts[-1] = (parts[-1][0], bytes(value))
        value.clear()

    parser = MultipartParser(
        options[b"boundary"],
        {  # type: ignore[arg-type]
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    parser.write(body)
    parser.finalize()
    return parts


@pytest.mark.parametrize("first", [True, False], ids=["sha256-first", "sha256-after"])
def test_the_form_s_layout_and_length(tmp_path: Path, first: bool) -> None:
    file = tmp_path / 'odd "name"\r\n.bin'
    file.write_bytes(BODY)
    sha = hashlib.sha256(BODY).hexdigest()
    fields = {"name": "agent", "version": "1.0", "description": "ünïcode"}
    stored = b'{"id": "x", "sha256": "%s"}' % sha.encode()
    with _Site({"/api/v1/packages": (201, {}, stored)}) as ferry:
        with ServiceClient(ferry.base, "ferry_secret") as client:
            doc, digest = client.upload(
                "/api/v1/packages", fields, file, sha256=sha if first else None, advance=print
            )
        headers = ferry.request_headers("/api/v1/packages")[0]
        body = ferry.bodies[0]
    assert doc["sha256"] == sha and digest == sha
    assert int(headers["content-length"]) == len(body)  # declared up front, exactly
    names = [name for name, _ in _parts(body, headers["content-type"])]
    if first:
        assert names == ["name", "version", "description", "sha256", "file"]
    else:
        assert names == ["name", "version", "description", "file", "sha256"]
    values = dict(_parts(body, headers["content-type"]))
    assert values["file"] == BODY and values["sha256"] == sha.encode()
    assert values["description"] == "ünïcode".encode()
    assert b'filename="odd %22name%22%0D%0A.bin"' in body  # quoted, never a header break


def test_a_file_that_shrinks_while_it_is_sent_fails(tmp_path: Path) -> None:
    file = tmp_path / "shrinking.bin"
    file.write_bytes(BODY)

    def shrink(n: int) -> None:
        os.truncate(file, 1024)  # after the first piece is sent

    with (
        _Site({"/api/v1/packages": (201, {}, b"{}")}) as ferry,
        ServiceClient(ferry.base, "ferry_secret") as client,
        pytest.raises(FetchError, match=r"shrinking\.bin got shorter"),
    ):
        client.upload("/api/v1/packages", {}, file, sha256=None, advance=shrink)


def test_a_server_that_names_no_terms_gets_the_sha256_before_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server older than the list's ``upload`` terms takes a sha256 only before the file:
    ``ferry packages upload`` sends it there, as it did before the terms."""
    file = tmp_path / "agent.bin"
    file.write_bytes(BODY)
    stored = {
        "id": "0" * 32,
        "name": "agent",
        "version": "1",
        "platform": "linux",
        "arch": "x86_64",
        "size": len(BODY),
        "sha256": hashlib.sha256(BODY).hexdigest(),
    }
    listing = {"packages": [], "total": 0, "page": 1, "size": 1}  # no "upload"
    routes = {
        "GET /api/v1/packages": (200, {}, json.dumps(listing).encode()),
        "POST /api/v1/packages": (201, {}, json.dumps(stored).encode()),
    }
    key = ["--name", "agent", "--version", "1", "--platform", "linux", "--arch", "x86_64"]
    with _Site(routes) as ferry:
        argv = ["packages", "upload", str(file), *key, "--server", ferry.base, "--token", "t"]
        code = main(argv)
        # it asks for a direct upload first, which such a server does not know (404)
        asked = ferry.count("/api/v1/packages/uploads", "POST")
        headers = ferry.request_headers("/api/v1/packages", "POST")[-1]
        body = ferry.bodies[-1]
    assert code == ExitCode.OK, capsys.readouterr().err
    assert asked == 1
    names = [name for name, _ in _parts(body, headers["content-type"])]
    assert names.index("sha256") < names.index("file")


_S3_REFUSAL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
    b"<Message>The request signature we calculated does not match</Message></Error>"
)


def test_a_direct_put_sends_the_signed_headers_and_never_the_token(
    storage: _Site, tmp_path: Path
) -> None:
    file = tmp_path / "agent.bin"
    file.write_bytes(BODY)
    storage.routes["PUT /bucket/new"] = (200, {}, b"")
    storage.routes["PUT /bucket/refused"] = (403, {}, _S3_REFUSAL)
    signed = {"Content-Length": str(len(BODY)), "x-amz-checksum-sha256": "c2lnbmVk"}
    seen: list[int] = []
    with ServiceClient("http://127.0.0.1:9", "ferry_secret") as client:
        client.put(f"{storage.base}/bucket/new?X-Amz-Signature=abc", signed, file, seen.append)
        with pytest.raises(
            FetchError,
            match=r"refused agent\.bin \(HTTP 403\): "
            r"SignatureDoesNotMatch: The request signature",
        ):
            client.put(f"{storage.base}/bucket/refused", signed, file, lambda _n: None)
        with pytest.raises(FetchError, match="not http"):
            client.put("file:///etc/passwd", signed, file, lambda _n: None)
        with pytest.raises(FetchError, match="--via-server"):
            client.put("http://127.0.0.1:9/bucket/x", signed, file, lambda _n: None)
    sent = storage.request_headers("/bucket/new", "PUT")[0]
    assert "authorization" not in sent
    assert sent["x-amz-checksum-sha256"] == "c2lnbmVk"
    assert storage.bodies[0] == BODY and sum(seen) == len(BODY)


def test_https_trusts_the_ssl_cert_file_and_refuses_an_unknown_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's client trusts what every other Ferry call does: SSL_CERT_FILE here."""
    import trustme

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(served)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    with _Site({"/bucket/blob": (200, {}, BODY)}) as site:
        site._server.socket = served.wrap_socket(site._server.socket, server_side=True)
        base = site.base.replace("http://", "https://")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
            _download(base, "/bucket/blob", tmp_path / "untrusted")
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        digest = _download(base, "/bucket/blob", tmp_path / "got")
    assert digest == hashlib.sha256(BODY).hexdigest()


def test_a_disk_that_fills_up_stops_the_download_and_its_thread(storage: _Site) -> None:
    with (
        ServiceClient(storage.base, "ferry_secret") as client,
        open("/dev/full", "wb") as full,  # noqa: PTH123
        pytest.raises(OSError) as raised,
    ):
        client.download("/bucket/blob", full, lambda _n: None)
    assert raised.value.errno == errno.ENOSPC
    for _ in range(100):
        if not [t for t in threading.enumerate() if t.name == "ferry-download"]:
            break
        time.sleep(0.02)
    assert not [t for t in threading.enumerate() if t.name == "ferry-download"]
