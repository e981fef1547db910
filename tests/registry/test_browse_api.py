"""``/api/registry/packages``: what the registries hold, for the UI's Browse page, after a
real bundle was imported; on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.utils import canonicalize_name

from db import BACKENDS, fresh_database
from ferry.registry.versions import latest, newest_first
from ferry.settings import Settings
from server import api_client
from support.auth import bearer, issue

pytestmark = pytest.mark.timeout(180)


@dataclass
class Held:
    api: httpx.AsyncClient
    import_id: str
    # (ecosystem, name) -> every file manifest.json lists for it
    files: dict[tuple[str, str], list[dict[str, Any]]]


def _manifest_files(bundle: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    with zipfile.ZipFile(bundle) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("/manifest.json")]
        manifest = json.loads(archive.read(name))
    files: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in manifest["files"]:
        if record.get("prebuilt"):
            continue
        package = record["package"]
        key = canonicalize_name(package) if record["ecosystem"] == "pypi" else package
        files.setdefault((record["ecosystem"], key), []).append(record)
    return files


def _read(path: Path) -> bytes:
    return path.read_bytes()


@pytest.fixture(params=BACKENDS)
async def held(
    request: pytest.FixtureRequest, npm_settings: Settings, tmp_path: Path, made: Path
) -> AsyncIterator[Held]:
    """The service on each database, a reader's client, the bundle imported."""
    with fresh_database(request.param, tmp_path) as url:
        settings = npm_settings.model_copy(update={"database_url": url})
        async with api_client(settings, role="write", owner="importer") as writer:
            answer = await writer.post(
                "/api/imports",
                params={"filename": "bundle.zip"},
                content=_read(made),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert answer.status_code == 201, answer.text
            app = writer.app  # type: ignore[attr-defined]
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://ferry",
                headers=bearer(issue(app, "read", "browser")),
            ) as reader:
                yield Held(reader, answer.json()["id"], _manifest_files(made))


async def _all(api: httpx.AsyncClient, **query: object) -> list[dict[str, Any]]:
    answer = await api.get("/api/registry/packages", params={"per_page": 100, **query})
    assert answer.status_code == 200, answer.text
    packages: list[dict[str, Any]] = answer.json()["packages"]
    assert answer.json()["total"] == len(packages)
    return packages


async def test_the_list_has_every_package_with_its_counts(held: Held) -> None:
    listed = await _all(held.api)
    assert {(p["ecosystem"], p["name"]) for p in listed} == set(held.files)
    # by name, in byte order on both databases, then ecosystem
    assert [(p["name"], p["ecosystem"]) for p in listed] == sorted((n, e) for e, n in held.files)
    for p in listed:
        records = held.files[(p["ecosystem"], p["name"])]
        versions = {r["version"] for r in records}
        assert p["version_count"] == len(versions), p
        assert p["latest_version"] == latest(p["ecosystem"], versions), p
        assert p["file_count"] == len(records), p
        assert p["total_size"] == sum(r["size"] for r in records), p
    scoped = [p for p in listed if p["name"] == "@demo/native"]
    assert scoped == [
        {
            "ecosystem": "npm",
            "name": "@demo/native",
            "version_count": 1,
            "latest_version": "1.0.0",
            "file_count": 1,
            "total_size": scoped[0]["total_size"],
        }
    ]


async def test_the_list_filters_searches_and_pages(held: Held) -> None:
    npm = await _all(held.api, ecosystem="npm")
    assert {p["name"] for p in npm} == {n for e, n in held.files if e == "npm"}
    pypi = await _all(held.api, ecosystem="pypi")
    assert {p["name"] for p in pypi} == {n for e, n in held.files if e == "pypi"}
    # anywhere in the name, case ignored; LIKE's wildcards are plain characters
    native = await _all(held.api, q="NATIVE")
    assert {p["name"] for p in native} >= {"@demo/native", "@demo/native-linux-x64"}
    assert all("native" in p["name"] for p in native)
    assert await _all(held.api, q="%") == []
    assert await _all(held.api, q="_") == []
    assert await _all(held.api, q="   ") == await _all(held.api)
    # pages of 2 are the whole list, in order, without overlap
    everything = await _all(held.api)
    paged: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = await held.api.get("/api/registry/packages", params={"page": page, "per_page": 2})
        doc = answer.json()
        assert doc["total"] == len(everything) and doc["per_page"] == 2 and doc["page"] == page
        if not doc["packages"]:
            break
        paged += doc["packages"]
        page += 1
    assert paged == everything


@pytest.mark.parametrize(
    "query",
    [{"ecosystem": "maven"}, {"page": 0}, {"per_page": 101}, {"per_page": 0}, {"q": "x" * 101}],
)
async def test_the_list_refuses_what_it_cannot_answer(held: Held, query: dict[str, object]) -> None:
    answer = await held.api.get("/api/registry/packages", params=query)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "request-invalid"


async def test_a_python_package_with_its_versions_files_and_import(held: Held) -> None:
    (name,) = [n for e, n in held.files if e == "pypi" and n == "lib"]
    # any spelling of the name finds the normalized project
    answer = await held.api.get("/api/registry/packages/pypi/LIB")
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    records = held.files[("pypi", name)]
    assert doc["name"] == "lib" and doc["ecosystem"] == "pypi"
    assert [v["version"] for v in doc["versions"]] == newest_first(
        "pypi", {r["version"] for r in records}
    )
    assert doc["install"] == {"index_url": "/simple/", "package_url": "/simple/lib/"}
    files = [f for v in doc["versions"] for f in v["files"]]
    assert {f["filename"] for f in files} == {r["path"].rpartition("/")[2] for r in records}
    for f in files:
        assert f["import_id"] == held.import_id and f["import_filename"] == "bundle.zip"
        assert f["imported_at"]
        # the URL is the index's own: its bytes are the file's
        served = await held.api.get(f["url"])
        assert served.status_code == 200, f["url"]
        assert hashlib.sha256(served.content).hexdigest() == f["sha256"]
        assert len(served.content) == f["size"]
    # lib 2.0 is yanked on its source index, and still is here
    (yanked,) = [f for f in files if "2.0" in f["filename"]]
    assert yanked["yanked"] == "broken build"


async def test_a_scoped_npm_package_by_either_spelling(held: Held) -> None:
    plain = await held.api.get("/api/registry/packages/npm/@demo/native")
    escaped = await held.api.get("/api/registry/packages/npm/@demo%2fnative")
    assert plain.status_code == 200, plain.text
    assert escaped.json() == plain.json()
    doc = plain.json()
    assert doc["name"] == "@demo/native" and doc["latest_version"] == "1.0.0"
    assert doc["install"] == {"index_url": "/npm/", "package_url": "/npm/@demo/native"}
    ((file_,),) = [v["files"] for v in doc["versions"]]
    assert file_["filename"] == "native-1.0.0.tgz"
    assert file_["url"] == "/npm/@demo/native/-/native-1.0.0.tgz"
    assert file_["yanked"] is None and file_["requires_python"] is None
    served = await held.api.get(file_["url"])
    assert hashlib.sha256(served.content).hexdigest() == file_["sha256"]
    # the packument the install hint names is the registry's
    packument = await held.api.get(doc["install"]["package_url"])
    assert packument.status_code == 200 and packument.json()["name"] == "@demo/native"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/registry/packages/pypi/nothing-here", 404),
        ("/api/registry/packages/npm/nothing-here", 404),
        # a name of the other ecosystem is not this one's
        ("/api/registry/packages/npm/Lib", 404),
        ("/api/registry/packages/npm/@demo", 404),
        ("/api/registry/packages/npm/..%2f..%2fapi%2ftokens", 404),
        ("/api/registry/packages/maven/lib", 422),
        ("/api/registry/packages/pypi/" + "x" * 215, 422),
    ],
)
async def test_what_is_not_held_is_a_404(held: Held, path: str, status: int) -> None:
    answer = await held.api.get(path)
    assert answer.status_code == status, answer.text
    if status == 404:
        assert answer.json()["code"] == "registry-not-found"


async def test_an_empty_registry_lists_nothing(npm_settings: Settings) -> None:
    async with api_client(npm_settings, role="read") as api:
        answer = await api.get("/api/registry/packages")
        assert answer.json() == {"packages": [], "total": 0, "page": 1, "per_page": 20}


def test_latest_is_the_highest_release() -> None:
    assert latest("pypi", ["1.0", "2.0rc1", "1.10", "bogus"]) == "1.10"
    assert latest("pypi", ["2.0rc1", "2.0b1"]) == "2.0rc1"
    assert latest("npm", ["1.2.0", "1.10.0", "2.0.0-beta.1"]) == "1.10.0"
    assert latest("npm", ["2.0.0-beta.2", "2.0.0-beta.10"]) == "2.0.0-beta.10"
    assert latest("npm", []) is None
    assert newest_first("npm", ["1.0.0", "1.0.0-rc.1", "0.9.0", "1.0.0"]) == [
        "1.0.0",
        "1.0.0-rc.1",
        "0.9.0",
    ]
    assert newest_first("pypi", ["1.0", "1.0.post1", "0.9", "x"]) == [
        "1.0.post1",
        "1.0",
        "0.9",
        "x",
    ]
