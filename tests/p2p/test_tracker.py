"""Ferry's tracker spoken to as a BitTorrent client speaks (raw announces), and as an
attacker would: a forged passkey, a torrent Ferry did not make, an ``ip=`` that points the
swarm elsewhere, malformed fields."""

from __future__ import annotations

import hashlib
import ipaddress
from urllib.parse import quote_from_bytes

import httpx
import libtorrent as lt
import pytest

from models.conftest import publish
from support.serve import Server

pytestmark = pytest.mark.timeout(300)

BIG = hashlib.shake_256(b"tracker").digest(9_000_000)


def _info_hash(server: Server, admin: str, reader: str) -> bytes:
    publish(server, admin, "acme/big", "1.0", {"model.bin": BIG})
    answer = httpx.get(
        f"{server.base}/api/v1/torrents",
        params={"repo_id": "acme/big"},
        headers={"Authorization": f"Bearer {reader}"},
        timeout=60,
    )
    return bytes.fromhex(answer.json()["torrents"][0]["info_hash"])


def _announce(
    server: Server, passkey: str, info_hash: bytes, peer_id: bytes, port: int, **extra: str
) -> httpx.Response:
    fields = {
        "info_hash": quote_from_bytes(info_hash),
        "peer_id": quote_from_bytes(peer_id),
        "port": str(port),
        "uploaded": "0",
        "downloaded": "0",
        "left": "100",
        "compact": "1",
        **extra,
    }
    query = "&".join(f"{k}={v}" for k, v in fields.items())
    return httpx.get(f"{server.base}/announce/{passkey}?{query}", timeout=30)


def _peers(answer: httpx.Response) -> list[tuple[str, int]]:
    doc = lt.bdecode(answer.content)
    assert b"failure reason" not in doc, doc
    raw = doc[b"peers"]
    return [
        (str(ipaddress.IPv4Address(raw[i : i + 4])), int.from_bytes(raw[i + 4 : i + 6], "big"))
        for i in range(0, len(raw), 6)
    ]


def _failure(answer: httpx.Response) -> str:
    return lt.bdecode(answer.content)[b"failure reason"].decode()


def test_peers_find_each_other(served: tuple[Server, str, str]) -> None:
    server, admin, reader = served
    info_hash = _info_hash(server, admin, reader)
    first = _announce(server, reader, info_hash, b"A" * 20, 6881, event="started")
    assert first.status_code == 200 and _peers(first) == []
    # the address is the connection's: an ip= naming another host is not believed
    second = _announce(server, reader, info_hash, b"B" * 20, 6882, ip="203.0.113.9")
    assert _peers(second) == [("127.0.0.1", 6881)]
    doc = lt.bdecode(second.content)
    assert doc[b"incomplete"] == 2 and doc[b"complete"] == 0 and doc[b"interval"] == 300
    seeding = _announce(server, reader, info_hash, b"A" * 20, 6881, left="0", event="completed")
    assert _peers(seeding) == [("127.0.0.1", 6882)]
    assert lt.bdecode(seeding.content)[b"complete"] == 1
    gone = _announce(server, reader, info_hash, b"A" * 20, 6881, event="stopped")
    assert gone.status_code == 200
    assert _peers(_announce(server, reader, info_hash, b"B" * 20, 6882)) == []


def test_the_passkey_is_a_token(served: tuple[Server, str, str]) -> None:
    server, admin, reader = served
    info_hash = _info_hash(server, admin, reader)
    for passkey in ("ferry_" + "A" * 43, "-", "x" * 300):
        refused = _announce(server, passkey, info_hash, b"A" * 20, 6881)
        assert refused.status_code == 401 and "passkey" in _failure(refused)
    nothing = httpx.get(f"{server.base}/announce", timeout=10)
    assert nothing.status_code in (401, 404)
    # a token that was revoked is no passkey either
    made = server.client.post("/api/tokens", json={"name": "n", "role": "read", "owner": "n"})
    token, token_id = made.json()["token"], made.json()["id"]
    assert _announce(server, token, info_hash, b"C" * 20, 6883).status_code == 200
    assert server.client.delete(f"/api/tokens/{token_id}").status_code in (200, 204)
    assert _announce(server, token, info_hash, b"C" * 20, 6883).status_code == 401


MALFORMED = [
    ({"info_hash": quote_from_bytes(b"x" * 19)}, "info_hash is 19 bytes"),
    ({"peer_id": ""}, "peer_id is 0 bytes"),
    ({"port": "0"}, "port 0"),
    ({"port": "70000"}, "port 70000"),
    ({"left": "-1"}, "left is not a whole number"),
    ({"uploaded": "1e9"}, "uploaded is not a whole number"),
    ({"downloaded": "9" * 30}, "downloaded is not a whole number"),
    ({"event": "exploded"}, "event 'exploded'"),
]


def test_malformed_announces_are_refused_by_name(served: tuple[Server, str, str]) -> None:
    server, admin, reader = served
    info_hash = _info_hash(server, admin, reader)
    for change, said in MALFORMED:
        fields = {"info_hash": quote_from_bytes(info_hash), "peer_id": "P" * 20, "port": "6881"}
        fields |= {"uploaded": "0", "downloaded": "0", "left": "0"} | change
        query = "&".join(f"{k}={v}" for k, v in fields.items())
        answer = httpx.get(f"{server.base}/announce/{reader}?{query}", timeout=30)
        assert answer.status_code == 200 and said in _failure(answer), change
    # none of them joined the swarm
    assert _peers(_announce(server, reader, info_hash, b"Q" * 20, 6999)) == []


def test_a_torrent_ferry_did_not_make_has_no_swarm_here(served: tuple[Server, str, str]) -> None:
    server, admin, reader = served
    _info_hash(server, admin, reader)
    answer = _announce(server, reader, b"\x01" * 20, b"A" * 20, 6881)
    assert "Ferry made no torrent" in _failure(answer)
