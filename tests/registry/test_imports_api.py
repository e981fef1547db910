"""``POST /api/imports``: a bundle uploaded to the service is imported whole or refused
whole, by a writer; then the index serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ferry.settings import Settings
from server import api_client
from support.auth import bearer, issue

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def api(npm_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(npm_settings, role="write", owner="importer") as client:
        yield client


async def _send(api: httpx.AsyncClient, path: Path, name: str | None = None) -> httpx.Response:
    return await api.post(
        "/api/imports",
        params={"filename": name or path.name},
        content=_read(path),
        headers={"Content-Type": "application/octet-stream"},
    )


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _flipped(path: Path, out: Path) -> Path:
    """The bundle with one byte inside a member changed."""
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


async def test_upload_import_list_and_serve(api: httpx.AsyncClient, made: Path) -> None:
    first = await _send(api, made)
    assert first.status_code == 201, first.text
    doc = first.json()
    assert doc["new_count"] == doc["file_count"] > 0 and not doc["repeated"]
    assert doc["owner"] == "importer" and doc["filename"] == "bundle.zip"

    again = await _send(api, made)
    assert again.status_code == 201 and again.json()["repeated"]
    assert again.json()["id"] == doc["id"] and again.json()["new_count"] == 0

    listed = (await api.get("/api/imports")).json()["imports"]
    assert [i["id"] for i in listed] == [doc["id"]]
    page = await api.get("/simple/app/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert page.status_code == 200 and page.json()["versions"] == ["1.0"]
    # nothing of the uploads stays in the work directory
    settings: Settings = api.app.state.settings  # type: ignore[attr-defined]
    assert list((settings.data_dir / "imports").iterdir()) == []


async def test_a_tampered_upload_is_refused_whole(
    api: httpx.AsyncClient, made: Path, tmp_path: Path
) -> None:
    bad = _flipped(made, tmp_path / "bad.zip")
    answer = await _send(api, bad)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "import-rejected"
    assert answer.json()["params"]["bundle"] == "bad.zip"
    assert (await api.get("/api/imports")).json()["imports"] == []
    listing = await api.get("/simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert listing.json()["projects"] == []


@pytest.mark.parametrize(
    "name", ["../bundle.zip", "bundle.rar", "/etc/passwd.zip", "dir/bundle.zip", ".zip"]
)
async def test_a_name_that_is_not_a_plain_bundle_name_is_refused(
    api: httpx.AsyncClient, made: Path, name: str
) -> None:
    answer = await _send(api, made, name)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "usage-invalid"
    assert (await api.get("/api/imports")).json()["imports"] == []


async def test_a_reader_cannot_import(api: httpx.AsyncClient, made: Path) -> None:
    app = api.app  # type: ignore[attr-defined]
    reader = httpx.AsyncClient(
        transport=api._transport, base_url="http://ferry", headers=bearer(issue(app, "read", "r"))
    )
    async with reader:
        answer = await _send(reader, made)
    assert answer.status_code == 403
    assert (await api.get("/api/imports")).json()["imports"] == []
