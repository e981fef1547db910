"""The torrent of one model file (seed 002: one per repo, commit and file), made from the
bytes Ferry keeps, wherever they are (local disk or S3): SHA-1 of each piece while the blob
streams past, then libtorrent lays out the info dictionary.

Only the info dictionary is stored; its SHA-1 is the info hash. The announce URL (with the
asking client's token as its passkey) and the web seed (BEP 19: Ferry's own file URL, which
answers ``Range`` with 206) are added each time a ``.torrent`` is handed out: they live
outside the info dictionary, so a Ferry behind another name serves the same swarm.

Torrents are private (BEP 27): peers come from Ferry's tracker alone, never from DHT or
peer exchange, so a swarm is the set of token holders and nobody else.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import libtorrent as lt

__all__ = [
    "MadeInfo",
    "full_torrent",
    "info_hash_of",
    "magnet_link",
    "make_info",
    "piece_length_for",
]

MIN_PIECE = 256 << 10
MAX_PIECE = 16 << 20  # seed 002's example piece length
# About this many pieces per file: each is a unit a peer can share as soon as it holds it,
# and each costs 20 bytes in the info dictionary every peer downloads first.
TARGET_PIECES = 1024


def piece_length_for(size: int) -> int:
    """A power of two from 256 KiB to 16 MiB, giving about :data:`TARGET_PIECES` pieces."""
    length = MIN_PIECE
    while length < MAX_PIECE and size > length * TARGET_PIECES:
        length *= 2
    return length


@dataclass(frozen=True)
class MadeInfo:
    info: bytes  # the bencoded info dictionary
    info_hash: str  # its SHA-1, 40 hex digits (BitTorrent v1)
    piece_length: int


async def make_info(name: str, size: int, chunks: AsyncIterator[bytes]) -> MadeInfo:
    """The info dictionary of a file called ``name`` of ``size`` bytes, read from
    ``chunks`` once; a stream of another length is an error, never a torrent."""
    piece_length = piece_length_for(size)
    digests = bytearray()
    piece = hashlib.sha1(usedforsecurity=False)
    filled = 0
    seen = 0
    async for chunk in chunks:
        view = memoryview(chunk)
        seen += len(view)
        while view:
            take = min(piece_length - filled, len(view))
            if take > 1 << 16:  # hashlib lets go of the GIL: the loop stays free
                await asyncio.to_thread(piece.update, view[:take])
            else:
                piece.update(view[:take])
            filled += take
            view = view[take:]
            if filled == piece_length:
                digests += piece.digest()
                piece, filled = hashlib.sha1(usedforsecurity=False), 0
    if seen != size:
        raise ValueError(f"{name}: {seen} bytes read, the catalog says {size}")
    if filled or size == 0:
        digests += piece.digest()
    info = _layout(name, size, piece_length, bytes(digests))
    return MadeInfo(info, info_hash_of(info), piece_length)


def _layout(name: str, size: int, piece_length: int, digests: bytes) -> bytes:
    made = lt.create_torrent(
        [lt.create_file_entry(name, size)], piece_length, lt.create_torrent.v1_only
    )
    for index in range(made.num_pieces()):
        made.set_hash(index, digests[index * 20 : (index + 1) * 20])
    made.set_priv(True)
    info: Any = made.generate()[b"info"]
    return bytes(lt.bencode(info))


def info_hash_of(info: bytes) -> str:
    return hashlib.sha1(info, usedforsecurity=False).hexdigest()


def full_torrent(info: bytes, *, announce: str, web_seed: str) -> bytes:
    """A ``.torrent`` of the stored info dictionary, for one client."""
    doc = {
        b"announce": announce.encode(),
        b"url-list": [web_seed.encode()],
        b"created by": b"ferry",
        b"info": lt.bdecode(info),
    }
    return bytes(lt.bencode(doc))


def magnet_link(info_hash: str, name: str, size: int) -> str:
    return f"magnet:?xt=urn:btih:{info_hash}&dn={quote(name, safe='')}&xl={size}"
