"""Direct uploads to the package store: the client PUTs the file straight into an S3 bucket
with a URL the service signed (the sha256 and the length among the signed headers), then
completes with the plan's ticket; the service records the package only once the bucket
says it checked those bytes against that sha256.

Against SeaweedFS, which checks a PUT's ``x-amz-checksum-sha256``; against moto, which
stores any bytes (so it is never offered); and on the local store (never offered either).
Tried as an attacker would: other bytes, another length, no digest header, a completion
without a PUT, another writer's ticket, a forged or expired one, bytes named but never had.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import itsdangerous.timed
import pytest
from fastapi import FastAPI
from itsdangerous import URLSafeTimedSerializer

from db import fresh_database
from ferry.settings import Settings
from ferry.store.blob import BlobKey, BlobStore
from ferry.store.blob.s3 import S3BlobStore
from server import api_client, app_of, kept_keys
from support.auth import bearer, issue
from support.s3servers import PART_SIZE, S3Server, use_credentials

pytestmark = pytest.mark.timeout(180)

URL = "/api/v1/packages"
PLAN = f"{URL}/uploads"
DONE = f"{URL}/uploads/complete"
KEY = {"name": "agent", "version": "2.0.0", "platform": "linux", "arch": "arm64"}


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _start(data: bytes, **fields: Any) -> dict[str, Any]:
    return {
        **KEY,
        "description": "built by CI",
        "filename": "agent.tar.gz",
        "size": len(data),
        "sha256": _sha(data),
        **fields,
    }


def _app(api: httpx.AsyncClient) -> FastAPI:
    return app_of(api)  # type: ignore[no-any-return]


def _blobs(api: httpx.AsyncClient) -> BlobStore:
    return _app(api).state.packages.blobs  # type: ignore[no-any-return]


def _client(api: httpx.AsyncClient, role: str, owner: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=api._transport,
        base_url="http://ferry",
        headers=bearer(issue(_app(api), role, owner)),
    )


async def _put(direct: dict[str, Any], data: bytes, **headers: str | None) -> httpx.Response:
    """The PUT a client sends: the plan's headers (some changed or left out), no token."""
    sent = {k: v for k, v in {**direct["headers"], **headers}.items() if v is not None}
    async with httpx.AsyncClient() as anyone:
        return await anyone.put(direct["url"], content=data, headers=sent)


async def _plan(api: httpx.AsyncClient, data: bytes, **fields: Any) -> dict[str, Any]:
    answer = await api.post(PLAN, json=_start(data, **fields))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _problem(answer: httpx.Response) -> str:
    return str(answer.json()["params"]["problem"])


def _settings_on(server: S3Server, settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "database_url": url,
            "blob_store": f"s3://{server.bucket}/d-{uuid.uuid4().hex[:12]}",
            "s3_endpoint_url": server.endpoint,
            "s3_part_size": PART_SIZE,
        }
    )


@pytest.fixture
async def weed_api(
    seaweedfs: S3Server, npm_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    use_credentials(monkeypatch)
    with fresh_database("sqlite", tmp_path) as url:
        async with api_client(_settings_on(seaweedfs, npm_settings, url)) as client:
            yield client


@pytest.fixture
async def local_api(npm_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(npm_settings) as client:
        yield client


# ---- the way it is meant to be used ----------------------------------------------------------


@pytest.mark.s3
async def test_a_file_put_straight_into_the_bucket_becomes_a_package(
    weed_api: httpx.AsyncClient,
) -> None:
    api = weed_api
    data = _data(3 * PART_SIZE + 17)  # larger than a part: one PUT all the same
    plan = await _plan(api, data)
    direct = plan["direct"]
    assert plan["reason"] is None and direct["method"] == "PUT"
    blobs = _blobs(api)
    assert isinstance(blobs, S3BlobStore)
    # the probe that found the bucket checks digests was refused: it left nothing either
    assert await blobs.checks_digests() is True
    assert await blobs.clean_staging(0) == 0
    assert "Authorization" not in direct["headers"]
    assert direct["headers"]["Content-Length"] == str(len(data))
    assert (await api.get(URL)).json()["total"] == 0  # nothing is recorded by a plan

    put = await _put(direct, data)
    assert put.status_code == 200, put.text
    done = await api.post(DONE, json={"ticket": plan["ticket"]})
    assert done.status_code == 201, done.text
    doc = done.json()
    assert (doc["name"], doc["version"], doc["platform"], doc["arch"]) == tuple(KEY.values())
    assert (doc["size"], doc["sha256"]) == (len(data), _sha(data))
    assert (doc["filename"], doc["description"]) == ("agent.tar.gz", "built by CI")
    assert (await api.get(doc["download_url"])).content == data
    assert await kept_keys(api) == [BlobKey.sha256(_sha(data))]
    audit = (await api.get("/api/audit", params={"action": "package.upload"})).json()
    assert [e["target"] for e in audit["entries"]] == [doc["id"]]

    # the same key again: refused at the plan, before a byte is sent
    again = await api.post(PLAN, json=_start(_data(10, seed=1)))
    assert again.status_code == 409, again.text
    assert again.json()["params"]["package_id"] == doc["id"]
    # a ticket is good once: its key is taken now
    twice = await api.post(DONE, json={"ticket": plan["ticket"]})
    assert twice.status_code == 409 and twice.json()["code"] == "package-exists"


@pytest.mark.s3
async def test_the_bucket_takes_no_other_bytes_and_nothing_is_recorded(
    weed_api: httpx.AsyncClient,
) -> None:
    api = weed_api
    data = _data(200_000, seed=2)
    plan = await _plan(api, data)
    direct = plan["direct"]
    other = bytearray(data)
    other[-1] ^= 1
    refused = [
        await _put(direct, bytes(other)),  # the same length, other bytes: BadDigest
        await _put(direct, data + b"x", **{"Content-Length": None}),  # another length
        await _put(direct, data, **{"x-amz-checksum-sha256": None}),  # no digest
    ]
    assert [r.status_code for r in refused] == [400, 403, 403], [r.text for r in refused]
    assert await kept_keys(api) == []

    missing = await api.post(DONE, json={"ticket": plan["ticket"]})
    assert missing.status_code == 409, missing.text
    problem = missing.json()
    assert problem["code"] == "package-upload-missing" and _sha(data) in problem["message"]
    assert (await api.get(URL)).json()["total"] == 0


@pytest.mark.s3
async def test_a_ticket_is_its_owner_s_alone_and_cannot_be_forged_or_kept(
    weed_api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = weed_api
    data = _data(5000, seed=3)
    alice = _client(api, "write", "alice")
    mallory = _client(api, "write", "mallory")
    reader = _client(api, "read", "rita")
    async with alice, mallory, reader:
        plan = (await alice.post(PLAN, json=_start(data))).json()
        assert (await _put(plan["direct"], data)).status_code == 200
        ticket = plan["ticket"]

        taken = await mallory.post(DONE, json={"ticket": ticket})
        assert taken.status_code == 422, taken.text
        assert _problem(taken) == "ticket"
        forged = ticket[:-2] + ("AA" if not ticket.endswith("AA") else "BB")
        assert _problem(await alice.post(DONE, json={"ticket": forged})) == "ticket"
        # a ticket of the same service signed for another purpose is no ticket either
        key = _app(api).state.manager.link_key
        other_salt = URLSafeTimedSerializer(key, salt="ferry.elsewhere").dumps({"owner": "alice"})
        assert (await alice.post(DONE, json={"ticket": other_salt})).status_code == 422
        assert (await reader.post(PLAN, json=_start(data))).status_code == 403
        assert (await reader.post(DONE, json={"ticket": ticket})).status_code == 403

        real = itsdangerous.timed.time.time
        monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + 3 * 3600)
        late = await alice.post(DONE, json={"ticket": ticket})
        monkeypatch.undo()
        assert late.status_code == 422 and _problem(late) == "ticket-expired"
        assert (await api.get(URL)).json()["total"] == 0

        done = await alice.post(DONE, json={"ticket": ticket})
        assert done.status_code == 201 and done.json()["owner"] == "alice", done.text


@pytest.mark.s3
async def test_bytes_the_store_has_are_never_handed_to_one_who_only_names_them(
    weed_api: httpx.AsyncClient,
) -> None:
    api = weed_api
    data = _data(4000, seed=4)
    # a plan made while the bytes were not there yet, and completed without a PUT once
    # someone else has sent them through the service: the bucket never checked those
    early = await _plan(api, data, name="early")
    first = (await api.post(URL, files={**_form_of(data)})).json()
    assert first["sha256"] == _sha(data)
    claimed = await api.post(DONE, json={"ticket": early["ticket"]})
    assert claimed.status_code == 409 and claimed.json()["code"] == "package-upload-missing"
    # planned now, they are to be sent through the service, which proves they are had
    plan = await _plan(api, data, name="copy")
    assert plan["direct"] is None and plan["ticket"] is None
    assert "already" in plan["reason"]
    assert (await api.get(URL)).json()["total"] == 1


def _form_of(data: bytes) -> dict[str, Any]:
    return {
        **{k: (None, v.encode()) for k, v in KEY.items()},
        "file": ("agent.tar.gz", data, "application/octet-stream"),
    }


@pytest.mark.s3
async def test_concurrent_completions_of_one_key_make_one_package_and_one_blob(
    weed_api: httpx.AsyncClient,
) -> None:
    api = weed_api
    data = _data(70_000, seed=5)
    plans = [await _plan(api, data) for _ in range(4)]  # all before any PUT: all direct
    assert all(p["direct"] for p in plans)
    assert (await _put(plans[0]["direct"], data)).status_code == 200
    answers = await asyncio.gather(*(api.post(DONE, json={"ticket": p["ticket"]}) for p in plans))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409], [a.text for a in answers]
    assert await kept_keys(api) == [BlobKey.sha256(_sha(data))]

    # the same bytes under another name share the blob; a PUT never completed is collected
    other = await _plan(api, _data(9, seed=6), name="never-completed")
    assert (await _put(other["direct"], _data(9, seed=6))).status_code == 200
    collected = await _app(api).state.packages.kept.collect(min_age=0)
    assert collected.removed == 1
    assert await kept_keys(api) == [BlobKey.sha256(_sha(data))]


@pytest.mark.s3
async def test_direct_uploads_can_be_turned_off(
    seaweedfs: S3Server, npm_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_credentials(monkeypatch)
    with fresh_database("sqlite", tmp_path) as url:
        settings = _settings_on(seaweedfs, npm_settings, url).model_copy(
            update={"package_direct_upload": False}
        )
        async with api_client(settings) as api:
            plan = await _plan(api, b"bytes")
    assert plan["direct"] is None and "package_direct_upload" in plan["reason"]


@pytest.mark.s3
async def test_a_bucket_that_keeps_any_bytes_is_never_offered(
    moto: S3Server, npm_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_credentials(monkeypatch)
    with fresh_database("sqlite", tmp_path) as url:
        async with api_client(_settings_on(moto, npm_settings, url)) as api:
            plan = await _plan(api, b"bytes")
            assert plan["direct"] is None and "whatever their digest" in plan["reason"]
            # nor can a ticket made up for it be completed: there is none to make
            done = await api.post(DONE, json={"ticket": "e30.AAAA.BBBB"})
            assert done.status_code == 422
            # the probe's object (moto kept it) was removed: no staging object is left
            blobs = _blobs(api)
            assert isinstance(blobs, S3BlobStore)
            assert await blobs.checks_digests() is False
            assert await blobs.clean_staging(0) == 0


# ---- checked before any byte, whatever the store --------------------------------------------


async def test_on_the_local_store_the_file_goes_through_the_service(
    local_api: httpx.AsyncClient,
) -> None:
    plan = await _plan(local_api, b"bytes")
    assert plan == {"direct": None, "ticket": None, "reason": plan["reason"]}
    assert "disk" in plan["reason"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"name": "../etc"}, 422, "name"),
        ({"version": "1/2"}, 422, "version"),
        ({"arch": ""}, 422, "arch"),
        ({"platform": "p" * 33}, 422, "platform"),
        ({"description": "é" * 5121}, 422, "description"),  # 10 KiB + 2 bytes of UTF-8
        ({"size": 0}, 422, "file"),
    ],
)
async def test_a_plan_refuses_bad_fields_naming_them(
    local_api: httpx.AsyncClient, change: dict[str, Any], status: int, field: str
) -> None:
    answer = await local_api.post(PLAN, json=_start(b"x", **change))
    assert answer.status_code == status, answer.text
    assert answer.json()["params"]["field"] == field


async def test_a_plan_refuses_what_the_store_would_refuse(
    local_api: httpx.AsyncClient, npm_settings: Settings
) -> None:
    too_big = npm_settings.package_max_bytes + 1
    large = await local_api.post(PLAN, json=_start(b"x", size=too_big))
    assert large.status_code == 413 and large.json()["code"] == "package-too-large"
    for bad in ({"sha256": "A" * 64}, {"sha256": "0" * 63}, {"size": -1}, {"extra": 1}):
        answer = await local_api.post(PLAN, json=_start(b"x", **bad))
        assert answer.status_code == 422, (bad, answer.text)
    assert (await local_api.get(URL)).json()["total"] == 0
