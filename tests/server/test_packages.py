"""The package store's API (seed 003): upload, list, show, download, delete, on SQLite and
PostgreSQL with the local blob store, and the transfer cases against an S3 server.

"Nothing stored" is checked where it is kept: no row (the listing's total) and no blob
(the store's keys, and no staging file left behind)."""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from db import fresh_database
from ferry.auth.links import signed_query
from ferry.settings import Settings
from ferry.store.blob import BlobKey, BlobStore
from ferry.store.blob.s3 import S3BlobStore
from server import api_client, app_of, kept_keys
from support.auth import bearer, issue
from support.s3servers import PART_SIZE, S3Server, use_credentials

pytestmark = pytest.mark.timeout(180)

URL = "/api/v1/packages"
KEY = {"name": "agent", "version": "1.0.0", "platform": "linux", "arch": "amd64"}


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _form(
    data: bytes | None,
    *,
    file_first: bool = False,
    filename: str = "agent.tar.gz",
    **fields: str,
) -> dict[str, Any]:
    """``files=`` for httpx: the fields (KEY's, overridden or left out with None) and the
    file, in the order asked for."""
    values = {**KEY, "description": "the agent", **fields}
    parts: list[tuple[str, Any]] = [
        (k, (None, v.encode())) for k, v in values.items() if v is not None
    ]
    if data is not None:
        part = ("file", (filename, data, "application/octet-stream"))
        parts = [part, *parts] if file_first else [*parts, part]
    return {"files": parts}


async def _upload(
    api: httpx.AsyncClient, data: bytes | None, *, headers: dict[str, str] | None = None, **kw: Any
) -> httpx.Response:
    return await api.post(URL, headers=headers, **_form(data, **kw))


def _app(api: httpx.AsyncClient) -> FastAPI:
    return app_of(api)  # type: ignore[no-any-return]


def _blobs(api: httpx.AsyncClient) -> BlobStore:
    return _app(api).state.packages.blobs  # type: ignore[no-any-return]


def _staging(api: httpx.AsyncClient) -> list[Path]:
    settings: Settings = _app(api).state.settings
    staging = settings.store_dir / "tmp"
    return list(staging.iterdir()) if staging.is_dir() else []


async def _nothing_stored(api: httpx.AsyncClient) -> None:
    listing = (await api.get(URL)).json()
    assert listing["total"] == 0, listing
    assert await kept_keys(api) == []
    assert _staging(api) == []


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
async def api(npm_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An admin's client on SQLite (the cases whose database does not matter)."""
    async with api_client(npm_settings) as client:
        yield client


def _client(api: httpx.AsyncClient, role: str, owner: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=api._transport,
        base_url="http://ferry",
        headers=bearer(issue(_app(api), role, owner)),
    )


# ---- round trip, listing, conflicts: on both databases --------------------------------------


def _unsigned(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "link_url"}


async def test_upload_list_show_download_round_trip(api_each_database: httpx.AsyncClient) -> None:
    api = api_each_database
    data = _data(3 * 1024 * 1024 + 17)
    answer = await _upload(api, data, description="Agent for Linux")
    assert answer.status_code == 201, answer.text
    doc = answer.json()
    assert {k: doc[k] for k in KEY} == KEY
    assert doc["size"] == len(data)
    assert doc["sha256"] == _sha(data)
    assert doc["filename"] == "agent.tar.gz"
    assert doc["description"] == "Agent for Linux"
    assert doc["owner"] == "tester"
    assert doc["download_url"] == f"{URL}/{doc['id']}/download"
    assert len(doc["id"]) == 32

    listing = (await api.get(URL)).json()
    assert listing["total"] == 1
    # the same document each time, but for its link, signed when it is made (a second
    # later, another expiry and signature)
    assert [_unsigned(p) for p in listing["packages"]] == [_unsigned(doc)]
    assert _unsigned((await api.get(f"{URL}/{doc['id']}")).json()) == _unsigned(doc)
    assert doc["link_url"].startswith(f"{doc['download_url']}?expires=")

    got = await api.get(doc["download_url"])
    assert got.status_code == 200
    assert got.content == data
    assert _sha(got.content) == doc["sha256"]
    assert got.headers["etag"] == f'"{doc["sha256"]}"'
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["content-disposition"].startswith('attachment; filename="agent.tar.gz"')
    # the bytes are one blob in the store, under their digest
    assert await kept_keys(api) == [BlobKey.sha256(doc["sha256"])]

    audit = (await api.get("/api/audit", params={"action": "package.upload"})).json()
    entries = audit["entries"]
    assert [e["target"] for e in entries] == [doc["id"]]
    assert entries[0]["detail"]["sha256"] == doc["sha256"]


async def test_filters_search_pages_and_sort(api_each_database: httpx.AsyncClient) -> None:
    api = api_each_database
    made = [
        ("agent", "1.0.0", "linux", "amd64", "Agent for Linux"),
        ("agent", "1.1.0", "linux", "arm64", "Agent, ARM build"),
        ("agent", "1.1.0", "windows", "amd64", "Agent for Windows"),
        ("collector", "2.0.0", "linux", "amd64", "Metrics COLLECTOR 100%"),
        ("beacon", "0.9.0", "darwin", "arm64", "small_beacon"),
    ]
    for i, (name, version, platform, arch, description) in enumerate(made):
        answer = await _upload(
            api,
            _data(100 + i, seed=i),
            name=name,
            version=version,
            platform=platform,
            arch=arch,
            description=description,
        )
        assert answer.status_code == 201, answer.text

    async def names(**params: Any) -> list[tuple[str, str, str, str]]:
        listing = (await api.get(URL, params=params)).json()
        return [(p["name"], p["version"], p["platform"], p["arch"]) for p in listing["packages"]]

    assert len(await names()) == 5
    # newest first by default
    assert (await names())[0][0] == "beacon"
    assert await names(name="agent", platform="linux", sort="version", order="asc") == [
        ("agent", "1.0.0", "linux", "amd64"),
        ("agent", "1.1.0", "linux", "arm64"),
    ]
    assert await names(version="1.1.0", arch="amd64") == [("agent", "1.1.0", "windows", "amd64")]
    assert await names(name="nothing") == []
    # search: name or description, any case; % and _ are literal
    assert {n for n, *_ in await names(q="collector")} == {"collector"}
    assert {n for n, *_ in await names(q="ARM")} == {"agent"}
    assert {n for n, *_ in await names(q="100%")} == {"collector"}
    assert await names(q="%") == [("collector", "2.0.0", "linux", "amd64")]
    assert await names(q="for_Linux") == []  # _ would match the space
    assert await names(q="for Linux") == [("agent", "1.0.0", "linux", "amd64")]
    assert {n for n, *_ in await names(q="_")} == {"beacon"}
    # sort
    by_name = [n for n, *_ in await names(sort="name", order="asc")]
    assert by_name == sorted(by_name) and by_name[0] == "agent" and by_name[-1] == "collector"
    assert [n for n, *_ in await names(sort="name", order="desc")] == by_name[::-1]
    assert (await names(sort="version", order="desc"))[0][1] == "2.0.0"
    assert (await names(sort="created", order="asc"))[0][0] == "agent"
    # pages: disjoint, complete, with the total
    seen = []
    for page in (1, 2, 3):
        listing = (await api.get(URL, params={"page": page, "size": 2, "sort": "name"})).json()
        assert listing["total"] == 5 and listing["page"] == page and listing["size"] == 2
        seen += [p["id"] for p in listing["packages"]]
    assert len(seen) == len(set(seen)) == 5
    assert (await api.get(URL, params={"page": 4, "size": 2})).json()["packages"] == []
    for bad in ({"sort": "size"}, {"order": "up"}, {"size": 0}, {"q": "x" * 101}):
        assert (await api.get(URL, params=bad)).status_code == 422, bad


async def test_the_same_key_twice_is_a_conflict_naming_the_existing_id(
    api_each_database: httpx.AsyncClient,
) -> None:
    api = api_each_database
    first = (await _upload(api, b"one")).json()
    for file_first in (False, True):  # refused before the file, or after it
        again = await _upload(api, b"another file", file_first=file_first)
        assert again.status_code == 409, again.text
        problem = again.json()
        assert problem["code"] == "package-exists"
        assert problem["package_id"] == first["id"]
        assert problem["params"]["package_id"] == first["id"]
        assert problem["hint_code"] == "package-exists"
    # the second file was not kept
    assert await kept_keys(api) == [BlobKey.sha256(_sha(b"one"))]
    assert (await api.get(URL)).json()["total"] == 1
    # another arch of the same name and version is another package
    assert (await _upload(api, b"one", arch="arm64")).status_code == 201


async def test_concurrent_uploads_of_one_key_make_one_package_and_one_blob(
    api_each_database: httpx.AsyncClient,
) -> None:
    api = api_each_database
    files = [_data(200_000, seed=i) for i in range(5)]
    answers = await asyncio.gather(
        *(_upload(api, data, file_first=i % 2 == 0) for i, data in enumerate(files))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409, 409], [a.text for a in answers]
    created = next(a.json() for a in answers if a.status_code == 201)
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["package_id"] == created["id"]
    assert (await api.get(URL)).json()["total"] == 1
    # the winner's bytes, and nobody else's
    assert await kept_keys(api) == [BlobKey.sha256(created["sha256"])]
    assert created["sha256"] in {_sha(d) for d in files}
    assert _staging(api) == []


# ---- refusals: nothing stored ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "field", "problem"),
    [
        ({"name": None}, "name", "missing"),
        ({"version": None}, "version", "missing"),
        ({"platform": None}, "platform", "missing"),
        ({"arch": None}, "arch", "missing"),
        ({"name": ""}, "name", "missing"),
        ({"name": "a/b"}, "name", "unsafe"),
        ({"version": "../1"}, "version", "unsafe"),
        ({"version": "1..0"}, "version", "unsafe"),
        ({"platform": ".."}, "platform", "unsafe"),
        ({"arch": "amd64\n"}, "arch", "unsafe"),
        ({"name": "-rf"}, "name", "unsafe"),
        ({"name": "a" * 101}, "name", "long"),
        ({"description": "d" * 10 * 1024 * 1024}, "description", "long"),
    ],
)
async def test_bad_fields_are_refused_naming_the_field(
    api: httpx.AsyncClient, form: dict[str, str | None], field: str, problem: str
) -> None:
    for file_first in (False, True):
        answer = await _upload(api, b"payload", file_first=file_first, **form)  # type: ignore[arg-type]
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["code"] == "package-invalid"
        assert body["params"]["field"] == field
        assert body["params"]["problem"] == problem
        assert field in body["message"]
    await _nothing_stored(api)


async def test_a_missing_or_empty_file_is_refused(api: httpx.AsyncClient) -> None:
    missing = await _upload(api, None)
    assert missing.status_code == 422
    assert missing.json()["params"] == {"problem": "missing", "field": "file"}
    empty = await _upload(api, b"")
    assert empty.status_code == 422
    assert empty.json()["params"] == {"problem": "empty", "field": "file"}
    assert empty.json()["message"] == "file is empty: a package needs at least one byte"
    twice = await api.post(
        URL,
        files=[*_form(b"a")["files"], ("file", ("b", b"b", "application/octet-stream"))],
    )
    assert twice.status_code == 422
    assert twice.json()["params"] == {"problem": "twice", "field": "file"}
    not_a_form = await api.post(URL, json=KEY)
    assert not_a_form.status_code == 422
    assert not_a_form.json()["params"] == {"problem": "form"}
    await _nothing_stored(api)


async def test_a_sha256_given_before_or_after_the_file_is_checked(
    api: httpx.AsyncClient,
) -> None:
    data = _data(3 * 1024 * 1024 + 17, seed=7)  # more than one buffer of the local writer
    for file_first in (False, True):  # the sha256 field before the file, or after it
        wrong = await _upload(api, data, file_first=file_first, sha256=_sha(b"other bytes"))
        assert wrong.status_code == 422, wrong.text
        assert wrong.json()["code"] == "package-invalid"
        message = wrong.json()["message"]
        assert _sha(data) in message and "sha256 given" in message, message
        for bad in ("0" * 63, "g" * 64, "", "0" * 65, "é" * 32):
            answer = await _upload(api, data, file_first=file_first, sha256=bad)
            assert answer.status_code == 422 and "64 hex digits" in answer.json()["message"]
    await _nothing_stored(api)
    stored = await _upload(api, data, sha256=_sha(data).upper())
    assert stored.status_code == 201, stored.text
    assert stored.json()["sha256"] == _sha(data)
    late = await _upload(api, data, file_first=True, version="1.0.1", sha256=_sha(data))
    assert late.status_code == 201, late.text
    assert late.json()["sha256"] == _sha(data)


async def test_the_list_tells_an_uploader_the_store_s_terms(npm_settings: Settings) -> None:
    settings = npm_settings.model_copy(update={"package_max_bytes": 123_456})
    async with api_client(settings) as api:
        terms = (await api.get(URL)).json()["upload"]
    # a local store renames a staging file into place: a sha256 first spares it nothing
    assert terms == {"max_bytes": 123_456, "sha256_first": False}


async def test_a_wrong_token_or_a_read_token_stores_nothing(api: httpx.AsyncClient) -> None:
    forged = await _upload(api, b"payload", headers=bearer("ferry_" + "A" * 43))
    assert forged.status_code == 401
    assert forged.json()["code"] == "auth-required"
    async with _client(api, "read", "reader") as reader:
        refused = await _upload(reader, b"payload")
        assert refused.status_code == 403
        assert refused.json()["code"] == "role-insufficient"
    await _nothing_stored(api)


async def test_a_file_over_the_limit_is_refused_and_not_kept(npm_settings: Settings) -> None:
    settings = npm_settings.model_copy(update={"package_max_bytes": 100_000})
    async with api_client(settings) as api:
        # within the body's limit (the file's and room for the fields): counted as it streams
        answer = await _upload(api, _data(150_000))
        assert answer.status_code == 413, answer.text
        assert answer.json()["code"] == "package-too-large"
        assert answer.json()["params"] == {"name": "agent.tar.gz", "limit": "100000"}
        # far past it: refused from its declared length before a byte is read
        huge = await _upload(api, _data(1_000_000))
        assert huge.status_code == 413
        assert huge.json()["code"] == "upload-too-large"
        assert (await _upload(api, _data(100_000))).status_code == 201
        assert len(await kept_keys(api)) == 1
        assert _staging(api) == []


async def test_unknown_packages_are_not_found(api: httpx.AsyncClient) -> None:
    for bad in ("0" * 32, "x", "0" * 31 + "g", "A" * 32, "0" * 33):
        for method, path in (
            ("GET", f"{URL}/{bad}"),
            ("GET", f"{URL}/{bad}/download"),
            ("DELETE", f"{URL}/{bad}"),
        ):
            answer = await api.request(method, path)
            assert answer.status_code == 404, (method, path)
            assert answer.json()["code"] == "package-not-found"


# ---- downloads: Range, ETag, If-None-Match --------------------------------------------------


async def _check_transfers(api: httpx.AsyncClient, data: bytes) -> str:
    """Range, ETag and If-None-Match on one uploaded file; its id."""
    doc = (await _upload(api, data)).json()
    url, size, etag = doc["download_url"], len(data), f'"{_sha(data)}"'

    async def get(**headers: str) -> httpx.Response:
        return await api.get(url, headers=headers)

    for asked, start, end in (
        ("bytes=0-9", 0, 10),
        ("bytes=10-", 10, size),
        ("bytes=-5", size - 5, size),
        (f"bytes=-{size + 10}", 0, size),
        (f"bytes={size - 3}-{size + 1000}", size - 3, size),
        (f"bytes={PART_SIZE - 2}-{PART_SIZE + 2}", PART_SIZE - 2, PART_SIZE + 3),
    ):
        part = await get(range=asked)
        assert part.status_code == 206, asked
        assert part.content == data[start:end], asked
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
        assert part.headers["content-length"] == str(end - start)
        assert part.headers["etag"] == etag
    for unsatisfiable in (f"bytes={size}-", f"bytes={size + 5}-{size + 9}", "bytes=-0"):
        refused = await get(range=unsatisfiable)
        assert refused.status_code == 416, unsatisfiable
        assert refused.headers["content-range"] == f"bytes */{size}"
        assert refused.json()["code"] == "range-not-satisfiable"
    # what is not one satisfiable-or-not range is ignored: the whole file
    for ignored in ("bytes=a-b", "bytes=0-1,5-6", "lines=1-2", "bytes=9-3", "bytes=-"):
        whole = await get(range=ignored)
        assert whole.status_code == 200, ignored
        assert whole.content == data
    # If-Range with another validator: the whole file
    assert (await get(range="bytes=0-9", **{"if-range": '"other"'})).status_code == 200
    assert (await get(range="bytes=0-9", **{"if-range": etag})).status_code == 206

    for matching in (etag, f'"x", {etag}', f"W/{etag}", "*"):
        cached = await get(**{"if-none-match": matching})
        assert cached.status_code == 304, matching
        assert cached.content == b""
        assert cached.headers["etag"] == etag
    assert (await get(**{"if-none-match": '"other"'})).status_code == 200

    head = await api.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(size)
    assert head.content == b""
    return str(doc["id"])


async def test_range_etag_and_if_none_match(api: httpx.AsyncClient) -> None:
    await _check_transfers(api, _data(PART_SIZE + 12345))
    # the name a browser saves: the upload's own, made safe
    doc = (await _upload(api, b"x", name="odd", filename="../../etc/naïve x.bin")).json()
    assert doc["filename"] == "naïve x.bin"
    disposition = (await api.get(doc["download_url"])).headers["content-disposition"]
    assert disposition == (
        "attachment; filename=\"na_ve_x.bin\"; filename*=UTF-8''na%C3%AFve%20x.bin"
    )
    # a local store has no presigned URLs: redirect=1 streams as usual
    assert (await api.get(doc["download_url"], params={"redirect": 1})).content == b"x"


# ---- delete ---------------------------------------------------------------------------------


async def test_delete_by_the_uploader_or_an_admin_only(
    api_each_database: httpx.AsyncClient,
) -> None:
    api = api_each_database
    async with (
        _client(api, "write", "alice") as alice,
        _client(api, "write", "bob") as bob,
        _client(api, "read", "alice") as alice_reads,
    ):
        mine = (await _upload(alice, b"alice's", name="a")).json()
        theirs = (await _upload(bob, b"bob's", name="b")).json()
        refused = await bob.delete(f"{URL}/{mine['id']}")
        assert refused.status_code == 403
        assert refused.json()["code"] == "package-not-owned"
        assert refused.json()["params"] == {"package_id": mine["id"], "owner": "alice"}
        assert (await alice_reads.delete(f"{URL}/{mine['id']}")).status_code == 403
        # everyone reads every package
        assert (await alice_reads.get(f"{URL}/{theirs['id']}")).status_code == 200
        assert (await api.get(URL)).json()["total"] == 2

        assert (await alice.delete(f"{URL}/{mine['id']}")).status_code == 204
        assert (await api.get(f"{URL}/{mine['id']}")).status_code == 404
        assert (await alice.delete(f"{URL}/{mine['id']}")).status_code == 404
        assert await kept_keys(api) == [BlobKey.sha256(theirs["sha256"])]

        assert (await api.delete(f"{URL}/{theirs['id']}")).status_code == 204  # the admin
        await _nothing_stored(api)
    audit = (await api.get("/api/audit", params={"action": "package.delete"})).json()["entries"]
    deleted = {(e["actor"], e["target"]) for e in audit if e["action"] == "package.delete"}
    assert deleted == {("alice", mine["id"]), ("tester", theirs["id"])}


async def test_a_signed_link_opens_its_one_package_without_a_token(
    api: httpx.AsyncClient,
) -> None:
    mine = (await _upload(api, b"first file", version="1")).json()
    other = (await _upload(api, b"other file", version="2")).json()
    link = mine["link_url"]
    assert link.startswith(f"{URL}/{mine['id']}/download?expires=")
    anyone = httpx.AsyncClient(transport=api._transport, base_url="http://ferry")
    async with anyone:
        opened = await anyone.get(link)
        assert opened.status_code == 200 and opened.content == b"first file"
        assert (await anyone.get(link, headers={"Range": "bytes=0-4"})).content == b"first"
        # without the signature, or with it on another package, a token is needed again
        assert (await anyone.get(mine["download_url"])).status_code == 401
        query = link.partition("?")[2]
        assert (await anyone.get(f"{URL}/{other['id']}/download?{query}")).status_code == 401
        expires = query.partition("&")[0].partition("=")[2]
        forged = query.replace(f"expires={expires}", f"expires={int(expires) + 3600}")
        assert (await anyone.get(f"{URL}/{mine['id']}/download?{forged}")).status_code == 401
        # an archive's link for the same id is not a package's
        archive_query = signed_query(_app(api).state.manager.link_key, mine["id"], 60)
        assert (await anyone.get(f"{URL}/{mine['id']}/download?{archive_query}")).status_code == 401
        # a link past its time
        stale = signed_query(
            _app(api).state.manager.link_key, mine["id"], 60, purpose="package", now=0
        )
        assert (await anyone.get(f"{URL}/{mine['id']}/download?{stale}")).status_code == 401


async def test_a_blob_two_packages_share_goes_with_the_last(api: httpx.AsyncClient) -> None:
    first = (await _upload(api, b"same bytes", version="1")).json()
    second = (await _upload(api, b"same bytes", version="2")).json()
    assert first["sha256"] == second["sha256"]
    assert len(await kept_keys(api)) == 1
    assert (await api.delete(f"{URL}/{first['id']}")).status_code == 204
    assert (await api.get(second["download_url"])).content == b"same bytes"
    assert (await api.delete(f"{URL}/{second['id']}")).status_code == 204
    await _nothing_stored(api)


# ---- against an S3 server -------------------------------------------------------------------


@pytest.fixture
async def s3_api(
    seaweedfs: S3Server,
    npm_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[httpx.AsyncClient]:
    use_credentials(monkeypatch)
    with fresh_database("sqlite", tmp_path) as url:
        settings = npm_settings.model_copy(
            update={
                "database_url": url,
                "blob_store": f"s3://{seaweedfs.bucket}/p-{uuid.uuid4().hex[:12]}",
                "s3_endpoint_url": seaweedfs.endpoint,
                "s3_part_size": PART_SIZE,
            }
        )
        async with api_client(settings) as client:
            yield client


@pytest.mark.s3
async def test_on_s3_upload_download_range_etag_and_redirect(s3_api: httpx.AsyncClient) -> None:
    api = s3_api
    data = _data(2 * PART_SIZE + 4321)  # a multipart upload of three parts
    package_id = await _check_transfers(api, data)
    doc = (await api.get(f"{URL}/{package_id}")).json()
    assert doc["sha256"] == _sha(data)
    assert await kept_keys(api) == [BlobKey.sha256(doc["sha256"])]
    whole = await api.get(doc["download_url"])
    assert whole.content == data

    moved = await api.get(doc["download_url"], params={"redirect": 1})
    assert moved.status_code == 307
    async with httpx.AsyncClient() as anyone:  # the presigned URL needs no token
        fetched = await anyone.get(moved.headers["location"])
    assert fetched.status_code == 200
    assert _sha(fetched.content) == doc["sha256"]

    assert (await _upload(api, b"again", file_first=True)).status_code == 409
    assert (await api.delete(f"{URL}/{package_id}")).status_code == 204
    assert await kept_keys(api) == []


@pytest.mark.s3
async def test_on_s3_a_sha256_given_first_goes_straight_to_its_name(
    s3_api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_copy(*args: object) -> None:
        raise AssertionError("a blob whose sha256 was given is never copied into place")

    monkeypatch.setattr(S3BlobStore, "_copy", no_copy)
    api = s3_api
    data = _data(2 * PART_SIZE + 99, seed=8)  # multipart, straight under its name
    wrong = await _upload(api, data, sha256=_sha(b"other bytes"))
    assert wrong.status_code == 422, wrong.text
    assert await kept_keys(api) == []
    blobs = _blobs(api)
    assert isinstance(blobs, S3BlobStore)
    assert await blobs.clean_staging(0) == 0  # the refused upload was aborted, not left
    # after the file: staged (never copied, the test's _copy would fail), then refused
    late = await _upload(api, data, file_first=True, sha256=_sha(b"other bytes"))
    assert late.status_code == 422, late.text
    assert await kept_keys(api) == []
    assert await blobs.clean_staging(0) == 0
    stored = await _upload(api, data, sha256=_sha(data))
    assert stored.status_code == 201, stored.text
    assert (await api.get(stored.json()["download_url"])).content == data
    assert await kept_keys(api) == [BlobKey.sha256(_sha(data))]
    assert (await api.get(URL)).json()["upload"]["sha256_first"] is True
