"""Ferry's BitTorrent tracker: an announce (BEP 3) read from a stranger's query string, and
the answer in the compact form (BEP 23, with BEP 7's ``peers6``).

Ferry's own tracker rather than a separate one (Debian's opentracker): its announce sits
behind the same tokens as every other route (the token is the passkey in the URL, as
private trackers do, since BitTorrent clients send no headers of their own), it tracks
only torrents Ferry made, and its swarms live in Ferry's database, so any API replica
answers.

A peer's address is the connection's, never an ``ip=`` parameter: a tracker that believed
it would send every peer of a swarm to an address of a stranger's choosing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import libtorrent as lt

__all__ = ["Announce", "AnnounceError", "failure", "parse_announce", "reply"]

EVENTS = ("", "started", "completed", "stopped", "paused")
MAX_WANT = 200
DEFAULT_WANT = 50


class AnnounceError(ValueError):
    """An announce Ferry cannot take; the message goes back as the failure reason."""


@dataclass(frozen=True)
class Announce:
    info_hash: str  # 40 hex digits
    peer_id: str  # 40 hex digits
    port: int
    uploaded: int
    downloaded: int
    left: int
    event: str
    want: int


def parse_announce(query: bytes) -> Announce:
    """The announce in ``query`` (the raw query string: ``info_hash`` and ``peer_id`` are
    20 bytes each, percent-encoded, not text)."""
    fields: dict[str, bytes] = {}
    for key, value in parse_qsl(
        query.decode("latin-1"), keep_blank_values=True, encoding="latin-1"
    ):
        fields.setdefault(key, value.encode("latin-1"))
    info_hash = _twenty(fields, "info_hash")
    peer_id = _twenty(fields, "peer_id")
    port = _number(fields, "port")
    if not 1 <= port <= 65535:
        raise AnnounceError(f"port {port} is not a port")
    event = fields.get("event", b"").decode("latin-1")
    if event not in EVENTS:
        raise AnnounceError(f"event {event[:20]!r} is none of {', '.join(EVENTS[1:])}")
    want = _number(fields, "numwant", DEFAULT_WANT)
    return Announce(
        info_hash.hex(),
        peer_id.hex(),
        port,
        _number(fields, "uploaded"),
        _number(fields, "downloaded"),
        _number(fields, "left"),
        event,
        min(want, MAX_WANT),
    )


def _twenty(fields: dict[str, bytes], key: str) -> bytes:
    value = fields.get(key)
    if value is None:
        raise AnnounceError(f"{key} is missing")
    if len(value) != 20:
        raise AnnounceError(f"{key} is {len(value)} bytes, not 20")
    return value


def _number(fields: dict[str, bytes], key: str, default: int | None = None) -> int:
    value = fields.get(key)
    if value is None:
        if default is None:
            raise AnnounceError(f"{key} is missing")
        return default
    text = value.decode("latin-1")
    if not text.isdigit() or len(text) > 20:
        raise AnnounceError(f"{key} is not a whole number")
    return int(text)


def reply(peers: list[tuple[str, int]], *, complete: int, incomplete: int, interval: int) -> bytes:
    """The compact answer: IPv4 peers as 6 bytes each, IPv6 ones as 18 in ``peers6``."""
    four, six = bytearray(), bytearray()
    for ip, port in peers:
        address = ipaddress.ip_address(ip)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        target = four if address.version == 4 else six
        target += address.packed + port.to_bytes(2, "big")
    doc: dict[bytes, Any] = {
        b"interval": interval,
        b"min interval": max(1, interval // 2),
        b"complete": complete,
        b"incomplete": incomplete,
        b"peers": bytes(four),
        b"peers6": bytes(six),
    }
    return bytes(lt.bencode(doc))


def failure(reason: str) -> bytes:
    doc: dict[bytes, Any] = {b"failure reason": reason.encode()}
    return bytes(lt.bencode(doc))
