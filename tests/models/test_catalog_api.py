"""The model catalog's HTTP surface, in process: the Hub's headers and error codes, seed
004's documents, publishing rules, and names from strangers."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from ferry.models.hashing import LFS_THRESHOLD
from ferry.server.app import create_app
from ferry.settings import Settings
from server import STARTUP_S
from support.auth import bearer, issue

BIG = hashlib.shake_256(b"weights").digest(LFS_THRESHOLD + 5)
SMALL = b'{"model_type": "demo"}'
FILES = {"model.safetensors": BIG, "config.json": SMALL, "tokenizer/vocab.txt": b"a\nb\n"}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=STARTUP_S):
        yield application


def _client(app: FastAPI, token: str | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://ferry",
        headers=bearer(token) if token else {},
        timeout=60,
    )


def _listing(files: dict[str, bytes]) -> list[dict[str, object]]:
    return [
        {"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for p, d in files.items()
    ]


async def _publish(
    client: httpx.AsyncClient,
    repo: str,
    version: str,
    files: dict[str, bytes],
    *,
    send: dict[str, bytes] | None = None,
    kind: str = "models",
) -> httpx.Response:
    for path, data in (files if send is None else send).items():
        put = await client.put(f"/api/{kind}/{repo}/versions/{version}/files/{path}", content=data)
        assert put.status_code == 201, put.text
    return await client.post(
        f"/api/{kind}/{repo}/versions/{version}/publish",
        json={"files": _listing(files), "task": "fill-mask", "languages": ["en", "zh"]},
    )


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


async def test_resolve_answers_as_the_hub_does(app: FastAPI) -> None:
    async with _client(app, issue(app, "write", "alice")) as alice:
        done = await _publish(alice, "acme/tiny", "1.0", FILES)
        assert done.status_code == 201, done.text
        commit = done.json()["commit"]
        big = await alice.head("/acme/tiny/resolve/main/model.safetensors")
        assert big.status_code == 200
        assert big.headers["x-repo-commit"] == commit
        sha256 = hashlib.sha256(BIG).hexdigest()
        assert big.headers["etag"] == big.headers["x-linked-etag"] == f'"{sha256}"'
        assert big.headers["x-linked-size"] == str(len(BIG))
        small = await alice.get(f"/acme/tiny/resolve/{commit}/config.json")
        assert small.content == SMALL
        assert small.headers["etag"] == f'"{_git_sha1(SMALL)}"'
        part = await alice.get(
            "/acme/tiny/resolve/1.0/model.safetensors", headers={"Range": "bytes=10-19"}
        )
        assert part.status_code == 206 and part.content == BIG[10:20]
        tree = await alice.get("/api/models/acme/tiny/tree/main", params={"recursive": "true"})
        info = await alice.get("/api/models/acme/tiny/revision/main", params={"blobs": "true"})
        # nothing that would send hf_xet to the Hub itself
        for answer in (big, small, tree, info):
            assert "xet" not in str(answer.headers).lower()
            assert "xet" not in answer.text.lower()


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/nobody/nothing/resolve/main/config.json", "RepoNotFound"),
        ("/acme/tiny/resolve/refs%2Fpr%2F1/config.json", "RevisionNotFound"),
        ("/acme/tiny/resolve/" + "0" * 40 + "/config.json", "RevisionNotFound"),
        ("/acme/tiny/resolve/main/missing.bin", "EntryNotFound"),
        ("/acme/tiny/resolve/main/..%2F..%2Fetc%2Fpasswd", "EntryNotFound"),
        ("/api/models/acme/tiny/revision/9.9", "RevisionNotFound"),
        ("/api/models/acme/nothing", "RepoNotFound"),
        ("/api/models/acme/tiny/tree/main/nowhere", "EntryNotFound"),
        ("/api/models/a..b/tiny", "RepoNotFound"),
        ("/api/models/%E6%B5%A0", "RepoNotFound"),  # its message, escaped into the header
    ],
)
async def test_what_is_missing_says_which_part(app: FastAPI, path: str, code: str) -> None:
    async with _client(app, issue(app, "write", "alice")) as alice:
        assert (await _publish(alice, "acme/tiny", "1.0", FILES)).status_code == 201
        answer = await alice.get(path)
        assert answer.status_code == 404
        assert answer.headers["x-error-code"] == code
        assert "/etc" not in answer.headers["x-error-message"] or code == "EntryNotFound"


async def test_tree_and_paths_info(app: FastAPI) -> None:
    async with _client(app, issue(app, "write", "alice")) as alice:
        assert (await _publish(alice, "acme/tiny", "1.0", FILES)).status_code == 201
        top = (await alice.get("/api/models/acme/tiny/tree/main")).json()
        assert [(e["type"], e["path"]) for e in top] == [
            ("file", "config.json"),
            ("file", "model.safetensors"),
            ("directory", "tokenizer"),
        ]
        lfs = next(e for e in top if e["path"] == "model.safetensors")
        assert lfs["lfs"]["oid"] == hashlib.sha256(BIG).hexdigest()
        assert lfs["oid"] == _git_sha1(BIG) and lfs["size"] == len(BIG)
        inner = (await alice.get("/api/models/acme/tiny/tree/main/tokenizer")).json()
        assert [e["path"] for e in inner] == ["tokenizer/vocab.txt"]
        found = (
            await alice.post(
                "/api/models/acme/tiny/paths-info/main",
                data={"paths": ["config.json", "tokenizer", "nope"], "expand": "true"},
            )
        ).json()
        assert [(e["type"], e["path"]) for e in found] == [
            ("file", "config.json"),
            ("directory", "tokenizer"),
        ]


async def test_the_catalog_in_seed_004s_shape(app: FastAPI) -> None:
    async with _client(app, issue(app, "write", "alice")) as alice:
        assert (await _publish(alice, "acme/tiny", "1.0", FILES)).status_code == 201
        listed = (await alice.get("/api/models")).json()
        assert [m["id"] for m in listed] == ["acme/tiny"]
        doc = (await alice.get("/api/models/acme/tiny")).json()
        assert doc["default_version"] == "1.0"
        assert doc["task"] == "fill-mask" and doc["languages"] == ["en", "zh"]
        (version,) = doc["versions"]
        assert version["size_bytes"] == sum(len(d) for d in FILES.values())
        assert {f["path"]: f["sha256"] for f in version["files"]} == {
            p: hashlib.sha256(d).hexdigest() for p, d in FILES.items()
        }
        assert doc["updated_at"].endswith("Z")
        # the file endpoint: Range, ETag, a JSON 404 that climbs nowhere
        got = await alice.get("/storage/models/acme/tiny/1.0/tokenizer/vocab.txt")
        assert got.content == b"a\nb\n" and got.headers["etag"]
        again = await alice.get(
            "/storage/models/acme/tiny/1.0/tokenizer/vocab.txt",
            headers={"If-None-Match": got.headers["etag"]},
        )
        assert again.status_code == 304
        for bad in (
            "/storage/models/acme/tiny/1.0/../../etc/passwd",
            "/storage/models/acme/tiny/1.0/%2e%2e/x",
        ):
            missing = await alice.get(bad)
            assert missing.status_code == 404 and missing.json()["error"]["code"]
        # fetching counted toward the ranking: once, not the HEAD, the 304 or a later piece
        assert (await alice.head("/acme/tiny/resolve/main/config.json")).status_code == 200
        piece = await alice.get(
            "/acme/tiny/resolve/main/config.json", headers={"Range": "bytes=3-"}
        )
        assert piece.status_code == 206
        ranking = (await alice.get("/api/model-usage/ranking")).json()
        assert ranking == [{"model_id": "acme/tiny", "request_count": 1, "rank": 1}]


async def test_an_update_sends_only_what_changed(app: FastAPI) -> None:
    async with _client(app, issue(app, "write", "alice")) as alice:
        assert (await _publish(alice, "acme/tiny", "1.0", FILES)).status_code == 201
        changed = {**FILES, "config.json": b'{"model_type": "demo", "v": 2}'}
        second = await _publish(
            alice, "acme/tiny", "2.0", changed, send={"config.json": changed["config.json"]}
        )
        assert second.status_code == 201, second.text
        doc = (await alice.get("/api/models/acme/tiny/revision/main")).json()
        assert doc["sha"] == second.json()["commit"]
        # a file neither sent nor held is refused, and so is publishing a version twice
        refused = await alice.post(
            "/api/models/acme/tiny/versions/3.0/publish",
            json={"files": _listing({"new.bin": b"never sent"})},
        )
        assert refused.status_code == 409 and "new.bin was not uploaded" in refused.text
        twice = await _publish(alice, "acme/tiny", "2.0", changed, send={})
        assert twice.status_code == 409


async def test_who_may_publish(app: FastAPI) -> None:
    async with (
        _client(app, issue(app, "write", "alice")) as alice,
        _client(app, issue(app, "write", "bob")) as bob,
        _client(app, issue(app, "read", "carol")) as carol,
        _client(app, issue(app)) as admin,
    ):
        assert (await _publish(alice, "acme/tiny", "1.0", FILES)).status_code == 201
        put = await bob.put("/api/models/acme/tiny/versions/2.0/files/x.bin", content=b"x")
        assert put.status_code == 403
        assert (
            await carol.put("/api/models/acme/tiny/versions/2.0/files/x", content=b"x")
        ).status_code == 403
        publish = await carol.post(
            "/api/models/acme/tiny/versions/2.0/publish", json={"files": _listing(FILES)}
        )
        assert publish.status_code == 403
        # an admin may; and a dataset is its own namespace
        assert (await _publish(admin, "acme/tiny", "2.0", FILES, send={})).status_code == 201
        assert (await _publish(bob, "acme/tiny", "1.0", FILES, kind="datasets")).status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "/api/models/acme/tiny/versions/1.0/files/../escape",
        "/api/models/acme/tiny/versions/1.0/files/a/%2e%2e/b",
        "/api/models/acme/tiny/versions/1.0/files/.git/config",
        "/api/models/acme/tiny/versions/1.0/files/a%5cb",
        "/api/models/acme/tiny/versions/..%2f..%2fx/files/a",
        "/api/models/acme/tiny/versions/" + "a" * 40 + "/files/a",
        "/api/models/ac--me/tiny/versions/1.0/files/a",
        "/api/models/-acme/tiny/versions/1.0/files/a",
    ],
)
async def test_names_from_strangers_are_refused(app: FastAPI, path: str) -> None:
    async with _client(app, issue(app, "write", "alice")) as alice:
        answer = await alice.put(path, content=b"x")
        assert answer.status_code in (400, 404), answer.text
        assert (await alice.get("/api/models")).json() == []


async def test_an_upload_must_match_its_length(app: FastAPI) -> None:
    async with _client(app, issue(app, "write", "alice")) as alice:

        async def body() -> AsyncIterator[bytes]:
            yield b"chunked"

        chunked = await alice.put("/api/models/acme/tiny/versions/1.0/files/a", content=body())
        assert chunked.status_code == 400 and "Content-Length" in chunked.text


async def test_uploads_are_kept_until_published_or_stale(settings: Settings) -> None:
    from ferry.server.app import _Sweep
    from ferry.store.blob import BlobKey

    application = create_app(settings.model_copy(update={"model_upload_max_age": 3600.0}))
    async with (
        LifespanManager(application, startup_timeout=STARTUP_S),
        _client(application, issue(application, "write", "a")) as a,
    ):
        data = b"sent, never published"
        put = await a.put("/api/models/acme/draft/versions/1.0/files/w.bin", content=data)
        assert put.status_code == 201
        key = BlobKey.sha256(hashlib.sha256(data).hexdigest())
        kept = application.state.kept
        # collection (even of the youngest blobs) leaves a staged file alone
        await kept.collect(min_age=0)
        assert await kept.blobs.has(key)
        # a sweep releases it once it is older than model_upload_max_age
        application.state.settings = settings.model_copy(update={"model_upload_max_age": 1e-6})
        sweep = _Sweep(application.state.manager, kept, application.state.settings)
        await sweep.once()
        assert not await kept.blobs.has(key)
        refused = await a.post(
            "/api/models/acme/draft/versions/1.0/publish",
            json={"files": _listing({"w.bin": data})},
        )
        assert refused.status_code == 409
