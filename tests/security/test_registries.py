"""The far side as an attacker meets it: the registries and the import route of a real
`ferry serve`, with paths that try to climb out, bundles made to fail, and no token."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest

from support.serve import Server

pytestmark = pytest.mark.timeout(120)

CLIMBS = [
    "/npm/..%2f..%2fferry.db",
    "/npm/%2e%2e/-/ferry.db",
    "/npm/@x%2f..%2f..%2fadmin-token/-/a-1.0.0.tgz",
    "/simple/..%2f..%2fferry.db/",
    "/files/pypi/" + "0" * 64 + "/..%2f..%2fferry.db",
    "/files/pypi/" + "0" * 64 + "/%2e%2e%2fadmin-token",
    "/files/pypi/..%2f..%2f/ferry.db",
]


def _said(answer_text: str, server: Server) -> None:
    """Nothing of the server's disk in what it answered."""
    data_dir = str(server.settings.data_dir)
    assert data_dir not in answer_text
    assert "SQLite format" not in answer_text
    assert server.token not in answer_text


@pytest.mark.parametrize("path", CLIMBS)
def test_registry_paths_do_not_climb_out(service: Server, path: str) -> None:
    answer = service.client.get(path)
    assert answer.status_code in (301, 404), (path, answer.status_code, answer.text[:200])
    _said(answer.text, service)
    if answer.status_code == 301:  # a name normalized, still under /simple/
        assert answer.headers["location"].startswith("../")


@pytest.mark.parametrize("path", ["/simple/", "/simple/app/", "/npm/app", "/api/imports"])
def test_no_token_reads_nothing(service: Server, path: str) -> None:
    anonymous = service.client.get(path, headers={"Authorization": ""})
    assert anonymous.status_code == 401


def _bogus_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("bundle/manifest.json", b"{}")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("x.tar.gz", b"PK\x03\x04 not gzip at all " * 10),  # gzip would quote these bytes
        # mtime fixed: the bytes name the test, and every xdist worker must name it alike
        ("x.tar.gz", gzip.compress(b"\0" * 100, mtime=0)[:-8]),  # cut short
        ("x.zip", b"\x00" * 64),
        ("x.tar.zst", b"\x28\xb5\x2f\xfd" + b"\xff" * 60),
        ("x.zip", _bogus_zip()),
    ],
)
def test_a_broken_bundle_is_refused_without_a_word_of_the_server(
    service: Server, name: str, body: bytes
) -> None:
    answer = service.client.post(
        "/api/imports",
        params={"filename": name},
        content=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "import-rejected" and problem["params"]["bundle"] == name
    _said(answer.text, service)
    assert "b'" not in answer.text and "imports/upload-" not in answer.text
    # nothing kept, nothing left in the work directory
    assert service.client.get("/api/imports").json()["imports"] == []
    work = service.settings.data_dir / "imports"
    assert not work.exists() or list(work.iterdir()) == []
