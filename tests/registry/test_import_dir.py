"""``POST /api/imports`` with ``{"path": NAME}``: an admin imports a bundle that is already
on the server's disk, in the ``import_dir`` the operator named, in place. Met as an
attacker would: paths that climb out, absolute paths, links that lead out, names that are
no plain bundle name, a writer or reader trying it, the setting unset; no answer ever
tells a server path."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferry.registry.importdir import bundle_in, is_bundle_name
from ferry.settings import Settings
from server import api_client

pytestmark = pytest.mark.timeout(120)

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def import_dir(tmp_path: Path, made: Path) -> Path:
    """The operator's directory: the real bundle, and what else a disk may carry."""
    directory = tmp_path / "carried"
    directory.mkdir()
    shutil.copy(made, directory / "bundle-2026-12-05.zip")
    (directory / "notes.txt").write_text("not a bundle")
    (directory / ".hidden.zip").write_bytes(made.read_bytes())
    (directory / "sub").mkdir()
    shutil.copy(made, directory / "sub" / "nested.zip")
    (directory / "folder.zip").mkdir()
    return directory


@pytest.fixture
def outside(tmp_path: Path, made: Path) -> Path:
    """A good bundle outside the directory: what a link out of it would reach."""
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    shutil.copy(made, secret / "private.zip")
    return secret / "private.zip"


@pytest.fixture
def serve(npm_settings: Settings, import_dir: Path) -> Client:
    def start(*, role: str = "admin", directory: Path | None = import_dir) -> Any:
        settings = npm_settings.model_copy(update={"import_dir": directory})
        return api_client(settings, role=role, owner=f"the-{role}")

    return start


@pytest.fixture
async def admin(serve: Client) -> AsyncIterator[httpx.AsyncClient]:
    async with serve() as client:
        yield client


async def _by_path(api: httpx.AsyncClient, name: object) -> httpx.Response:
    return await api.post("/api/imports", json={"path": name})


def _tells_no_path(answer: httpx.Response, *paths: Path, asked: str = "") -> None:
    """Nothing of the server's disk in the answer, but the name the client sent itself."""
    text = answer.text
    if asked:  # echoed whole, or cut at 100 characters
        for echoed in (asked, asked[:100]):
            text = text.replace(json.dumps(echoed)[1:-1], "<asked>")
    for path in paths:
        assert str(path) not in text, text
    assert "carried" not in text and "pytest-of" not in text, text


async def _nothing_imported(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/imports")).json()["imports"] == []
    listing = await api.get("/simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert listing.json()["projects"] == []


# ---- what it is for ---------------------------------------------------------------------


async def test_an_admin_imports_a_bundle_in_place(
    admin: httpx.AsyncClient, import_dir: Path
) -> None:
    bundle = import_dir / "bundle-2026-12-05.zip"
    before = (bundle.read_bytes(), bundle.stat().st_mtime_ns)
    answer = await _by_path(admin, "bundle-2026-12-05.zip")
    assert answer.status_code == 201, answer.text
    doc = answer.json()
    assert doc["filename"] == "bundle-2026-12-05.zip" and doc["owner"] == "the-admin"
    assert doc["new_count"] == doc["file_count"] > 0 and not doc["repeated"]
    # read where it lies: neither moved, nor changed, nor copied into the work directory
    assert (bundle.read_bytes(), bundle.stat().st_mtime_ns) == before
    settings: Settings = admin.app.state.settings  # type: ignore[attr-defined]
    assert list((settings.data_dir / "imports").iterdir()) == []
    page = await admin.get(
        "/simple/app/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    assert page.status_code == 200 and page.json()["versions"] == ["1.0"]
    # the same bundle again (uploaded this time) is the same import
    again = await admin.post(
        "/api/imports",
        params={"filename": "copy.zip"},
        content=bundle.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert again.status_code == 201 and again.json()["repeated"]
    assert again.json()["id"] == doc["id"]


async def test_the_directory_lists_its_bundles_only(
    admin: httpx.AsyncClient, import_dir: Path, outside: Path
) -> None:
    (import_dir / "leads-out.zip").symlink_to(outside)
    (import_dir / "latest.zip").symlink_to("bundle-2026-12-05.zip")
    (import_dir / "dangling.zip").symlink_to(import_dir / "gone.zip")
    os.mkfifo(import_dir / "pipe.zip")
    old = import_dir / "older.tar.zst"
    old.write_bytes(b"not checked until imported")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    answer = await admin.get("/api/imports/available")
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["enabled"] is True
    names = [b["name"] for b in doc["bundles"]]
    # newest first; no hidden file, no directory, no other file, nothing in a subdirectory,
    # no link out of it or to nothing, no pipe
    assert sorted(names) == ["bundle-2026-12-05.zip", "latest.zip", "older.tar.zst"]
    assert names[-1] == "older.tar.zst"
    by_name = {b["name"]: b for b in doc["bundles"]}
    size = (import_dir / "bundle-2026-12-05.zip").stat().st_size
    assert by_name["bundle-2026-12-05.zip"]["size"] == size == by_name["latest.zip"]["size"]
    assert by_name["older.tar.zst"]["modified_at"].startswith("2023-11-14T22:13:20")
    _tells_no_path(answer, import_dir)


async def test_a_link_inside_the_directory_is_followed(
    admin: httpx.AsyncClient, import_dir: Path
) -> None:
    (import_dir / "latest.zip").symlink_to("bundle-2026-12-05.zip")
    answer = await _by_path(admin, "latest.zip")
    assert answer.status_code == 201, answer.text
    # recorded by the file it is
    assert answer.json()["filename"] == "bundle-2026-12-05.zip"


async def test_a_refused_bundle_on_disk_is_said_without_its_path(
    admin: httpx.AsyncClient, import_dir: Path
) -> None:
    (import_dir / "broken.zip").write_bytes(b"PK\x03\x04 this is no zip archive")
    answer = await _by_path(admin, "broken.zip")
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "import-rejected"
    assert answer.json()["params"]["bundle"] == "broken.zip"
    _tells_no_path(answer, import_dir)
    await _nothing_imported(admin)


# ---- as an attacker meets it ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../bundle.zip",
        "../../etc/passwd.zip",
        "..",
        "a..zip",
        "sub/nested.zip",
        "./bundle-2026-12-05.zip",
        "bundle-2026-12-05.zip/",
        "/etc/passwd.zip",
        "ABSOLUTE",  # replaced by the bundle's own absolute path
        ".hidden.zip",
        "notes.txt",
        "bundle-2026-12-05",
        "bundle\\..\\x.zip",
        "bundle%2F..%2Fx.zip",
        "bundle.zip\x00.txt",
        "~root.zip",
        " bundle-2026-12-05.zip",
    ],
)
async def test_a_name_that_is_no_plain_bundle_name_is_refused(
    admin: httpx.AsyncClient, import_dir: Path, name: str
) -> None:
    if name == "ABSOLUTE":
        name = str(import_dir / "bundle-2026-12-05.zip")
    answer = await _by_path(admin, name)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "import-name-invalid"
    _tells_no_path(answer, import_dir, asked=name)
    await _nothing_imported(admin)


async def test_a_link_that_leads_out_is_no_bundle(
    admin: httpx.AsyncClient, import_dir: Path, outside: Path, tmp_path: Path
) -> None:
    (import_dir / "leads-out.zip").symlink_to(outside)
    (import_dir / "climbs.zip").symlink_to(Path("..") / "elsewhere" / "private.zip")
    (import_dir / "dir-link.zip").symlink_to(outside.parent)
    (tmp_path / "escape").symlink_to(outside.parent)
    (import_dir / "via-dir.zip").symlink_to(tmp_path / "escape" / "private.zip")
    (import_dir / "root.zip").symlink_to("/")
    (import_dir / "loop.zip").symlink_to("loop.zip")
    for name in ["leads-out.zip", "climbs.zip", "dir-link.zip", "via-dir.zip", "root.zip"]:
        answer = await _by_path(admin, name)
        assert answer.status_code == 404, (name, answer.text)
        assert answer.json()["code"] == "import-file-not-found"
        assert answer.json()["params"] == {"name": name}
        _tells_no_path(answer, import_dir, outside)
    answer = await _by_path(admin, "loop.zip")
    assert answer.status_code == 404, answer.text
    await _nothing_imported(admin)


@pytest.mark.parametrize("name", ["missing.zip", "folder.zip", "pipe.zip", "dangling.zip"])
async def test_what_is_no_regular_file_there_is_not_found(
    admin: httpx.AsyncClient, import_dir: Path, name: str
) -> None:
    os.mkfifo(import_dir / "pipe.zip")
    (import_dir / "dangling.zip").symlink_to("gone.zip")
    answer = await _by_path(admin, name)
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "import-file-not-found"
    assert "GET /api/imports/available" in answer.json()["hint"]
    _tells_no_path(answer, import_dir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
async def test_an_unreadable_file_is_not_found_either(
    admin: httpx.AsyncClient, import_dir: Path
) -> None:
    locked = import_dir / "locked.zip"
    locked.write_bytes(b"x")
    locked.chmod(0)
    answer = await _by_path(admin, "locked.zip")
    assert answer.status_code == 404, answer.text
    _tells_no_path(answer, import_dir)


@pytest.mark.parametrize("role", ["write", "read"])
async def test_only_an_admin_may_name_a_bundle_on_the_server(
    serve: Client, role: str, import_dir: Path
) -> None:
    async with serve(role=role) as client:
        answer = await _by_path(client, "bundle-2026-12-05.zip")
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "role-insufficient"
        # a reader is refused already for not being a writer
        needed = "admin" if role == "write" else "write"
        assert answer.json()["params"] == {"role": needed, "has": role}
        listed = await client.get("/api/imports/available")
        assert listed.status_code == 403
        # the refusal comes before the name is looked at: a writer learns nothing of the disk
        probe = await _by_path(client, "../../etc/passwd")
        assert probe.status_code == 403
        await _nothing_imported(client)


async def test_unset_the_feature_is_off(serve: Client) -> None:
    async with serve(directory=None) as client:
        answer = await _by_path(client, "bundle-2026-12-05.zip")
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "import-dir-off"
        assert "import_dir" in answer.json()["message"]
        assert answer.json()["hint_code"] == "import-dir"
        listed = await client.get("/api/imports/available")
        assert listed.status_code == 200
        assert listed.json() == {"enabled": False, "bundles": []}
        await _nothing_imported(client)


async def test_a_directory_that_is_not_there_is_said_without_its_path(
    serve: Client, tmp_path: Path
) -> None:
    gone = tmp_path / "unmounted-disk"
    async with serve(directory=gone) as client:
        for answer in (await client.get("/api/imports/available"), await _by_path(client, "b.zip")):
            assert answer.status_code == 500, answer.text
            assert answer.json()["code"] == "import-dir-unreadable"
            assert answer.json()["message"].endswith("No such file or directory")
            _tells_no_path(answer, gone)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"path": 7}',
        b'{"path": ""}',
        b'{"name": "bundle.zip"}',
        b'{"path": "bundle-2026-12-05.zip", "extra": 1}',
        b"[]",
    ],
)
async def test_a_body_that_is_not_the_document_is_a_422(
    admin: httpx.AsyncClient, body: bytes
) -> None:
    answer = await admin.post(
        "/api/imports", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "request-invalid"
    await _nothing_imported(admin)


async def test_a_long_body_is_refused_before_it_is_read_whole(admin: httpx.AsyncClient) -> None:
    answer = await admin.post(
        "/api/imports",
        content=b'{"path": "' + b"a" * 100_000 + b'.zip"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert answer.status_code == 413, answer.text


async def test_an_upload_still_needs_its_filename(admin: httpx.AsyncClient) -> None:
    answer = await admin.post(
        "/api/imports",
        content=b"PK\x03\x04",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "usage-invalid"


# ---- the rule itself --------------------------------------------------------------------


def test_the_name_rule() -> None:
    for good in ["bundle.zip", "b.tar.gz", "bundle-2026-12-05.tar.zst", "B_1+x.zip"]:
        assert is_bundle_name(good), good
    for bad in ["", ".zip", "..zip", "a..zip", "a/b.zip", "-x.zip", ".a.zip", "b.rar", "b.tar"]:
        assert not is_bundle_name(bad), bad


def test_bundle_in_returns_the_resolved_file(import_dir: Path) -> None:
    (import_dir / "latest.zip").symlink_to("bundle-2026-12-05.zip")
    found = bundle_in(import_dir, "latest.zip")
    assert found == (import_dir / "bundle-2026-12-05.zip").resolve()
