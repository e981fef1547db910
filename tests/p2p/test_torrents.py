"""Seed 002's torrents API on a served Ferry, checked with libtorrent itself: the torrent of
each large file (its info hash as libtorrent computes it from the same bytes), private,
Ferry as tracker and as web seed; publish refuses a torrent of other bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import libtorrent as lt
import pytest

from models.conftest import publish
from support.serve import Server

pytestmark = pytest.mark.timeout(300)

BIG = hashlib.shake_256(b"p2p").digest(9_000_000)  # over the 8 MiB torrent_min_size
FILES = {"weights/model.bin": BIG, "config.json": b'{"a": 1}'}


def _get(server: Server, token: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(
        server.base + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _libtorrents_own_hash(tmp_path: Path, data: bytes, name: str, piece_length: int) -> str:
    (tmp_path / name).write_bytes(data)
    made = lt.create_torrent(
        [lt.create_file_entry(name, len(data))], piece_length, lt.create_torrent.v1_only
    )
    made.set_priv(True)
    lt.set_piece_hashes(made, str(tmp_path))
    return hashlib.sha1(lt.bencode(made.generate()[b"info"])).hexdigest()


def test_the_torrent_of_each_large_file(served: tuple[Server, str, str], tmp_path: Path) -> None:
    server, admin, reader = served
    made = publish(server, admin, "acme/big", "1.0", FILES)
    listed = _get(server, reader, "/api/v1/torrents", repo_id="acme/big").json()["torrents"]
    (doc,) = listed  # config.json is too small to be worth a swarm
    assert doc["filename"] == "weights/model.bin" and doc["commit_hash"] == made["commit"]
    assert doc["file_size"] == len(BIG) and doc["sha256"] == hashlib.sha256(BIG).hexdigest()
    assert doc["piece_length"] == 256 << 10
    assert doc["info_hash"] == _libtorrents_own_hash(tmp_path, BIG, "model.bin", 256 << 10)
    assert doc["magnet_link"].startswith(f"magnet:?xt=urn:btih:{doc['info_hash']}&dn=model.bin")
    # by commit, by version name, by file: the same torrent
    for params in ({"commit_hash": made["commit"]}, {"commit_hash": "1.0"}):
        again = _get(server, reader, "/api/v1/torrents", repo_id="acme/big", **params).json()
        assert again["torrents"] == listed
    by_file = _get(
        server, reader, "/api/v1/torrents", repo_id="acme/big", filename="weights/model.bin"
    )
    assert by_file.json()["torrents"] == listed
    # a small file gets one when it is asked for by name
    small = _get(server, reader, "/api/v1/torrents", repo_id="acme/big", filename="config.json")
    assert small.json()["torrents"][0]["file_size"] == len(FILES["config.json"])


def test_the_torrent_file_names_ferry_as_tracker_and_web_seed(
    served: tuple[Server, str, str],
) -> None:
    server, admin, reader = served
    made = publish(server, admin, "acme/big", "1.0", FILES)
    (doc,) = _get(server, reader, "/api/v1/torrents", repo_id="acme/big").json()["torrents"]
    answer = _get(server, reader, urlsplit(doc["torrent_url"]).path)
    assert answer.headers["content-type"] == "application/x-bittorrent"
    torrent = lt.bdecode(answer.content)
    info = lt.torrent_info(torrent)
    assert str(info.info_hash()) == doc["info_hash"]
    assert info.priv() and info.name() == "model.bin" and info.total_size() == len(BIG)
    # the asking token is the passkey; Ferry's own file route the web seed, with the token
    assert torrent[b"announce"].decode() == f"{server.base}/announce/{reader}"
    (seed,) = torrent[b"url-list"]
    parts = urlsplit(seed.decode())
    assert (parts.username, parts.password) == ("ferry", reader)
    assert parts.path == f"/acme/big/resolve/{made['commit']}/weights/model.bin"
    ranged = httpx.get(
        f"{server.base}{parts.path}", auth=("ferry", reader), headers={"Range": "bytes=0-99"}
    )
    assert ranged.status_code == 206 and ranged.content == BIG[:100]


def test_what_is_asked_for_must_exist(served: tuple[Server, str, str]) -> None:
    server, admin, reader = served
    publish(server, admin, "acme/big", "1.0", FILES)
    for params, status in (
        ({"repo_id": "acme/none"}, 404),
        ({"repo_id": "acme/big", "commit_hash": "f" * 40}, 404),
        ({"repo_id": "acme/big", "filename": "nothing.bin"}, 404),
        ({"repo_id": "acme/big", "filename": "../../ferry.db"}, 400),
        ({"repo_id": "../etc"}, 400),
        ({"repo_id": "acme/big", "repo_type": "space"}, 422),
    ):
        answer = _get(server, reader, "/api/v1/torrents", **params)
        assert answer.status_code == status, (params, answer.text)
        assert "ferry.db" not in answer.text or status == 400
    assert _get(server, reader, f"/api/v1/torrents/{'0' * 40}/torrent").status_code == 404
    assert _get(server, reader, "/api/v1/torrents/../../x/torrent").status_code == 404


def test_publish_makes_the_torrent_and_refuses_one_of_other_bytes(
    served: tuple[Server, str, str],
) -> None:
    server, admin, reader = served
    made = publish(server, admin, "acme/big", "1.0", FILES)
    body = {"repo_id": "acme/big", "filename": "weights/model.bin", "commit_hash": made["commit"]}
    headers = {"Authorization": f"Bearer {admin}"}
    done = httpx.post(f"{server.base}/api/v1/publish", json=body, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["success"] is True
    info_hash = done.json()["torrent"]["info_hash"]
    same = httpx.post(
        f"{server.base}/api/v1/publish", json={**body, "info_hash": info_hash}, headers=headers
    )
    assert same.status_code == 200
    other = httpx.post(
        f"{server.base}/api/v1/publish",
        json={**body, "info_hash": "1" * 40, "file_size": len(BIG)},
        headers=headers,
    )
    assert other.status_code == 409 and info_hash in other.json()["message"]
    refused = httpx.post(
        f"{server.base}/api/v1/publish", json=body, headers={"Authorization": f"Bearer {reader}"}
    )
    assert refused.status_code == 403
    for bad in (b"{", b"[]", b'{"repo_id": 1, "filename": "x"}'):
        answer = httpx.post(f"{server.base}/api/v1/publish", content=bad, headers=headers)
        assert answer.status_code == 400, (bad, answer.text)
