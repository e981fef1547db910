"""Read a remote wheel's METADATA with HTTP Range requests, without downloading the wheel.

When an index publishes no PEP 658 metadata, pip and uv read the zip's central directory
from the end of the file and then fetch only the METADATA member; Ferry does the same for
large wheels, so `ferry resolve` of a multi-gigabyte wheel costs three small requests.
"""

from __future__ import annotations

import re
import struct
import zlib

import httpx

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_TAIL = 64 * 1024
_METADATA = re.compile(r"^[^/]+\.dist-info/METADATA$")


class NoRangeSupport(Exception):
    """The server answered a Range request with something other than 206."""


async def _range(client: httpx.AsyncClient, url: str, spec: str) -> tuple[bytes, int]:
    response = await client.get(
        url, headers={"Range": f"bytes={spec}", "Accept-Encoding": "identity"}
    )
    if response.status_code != 206:
        raise NoRangeSupport(f"{url}: HTTP {response.status_code} to a Range request")
    total = response.headers.get("content-range", "").rsplit("/", 1)[-1]
    return response.content, int(total) if total.isdigit() else -1


def _central_directory_span(tail: bytes, tail_start: int) -> tuple[int, int, int | None]:
    """(offset, size) of the central directory, and where a zip64 record must be read from
    when the tail does not hold it (else None)."""
    at = tail.rfind(_EOCD)
    if at < 0:
        raise ValueError("no end-of-central-directory record in the last 64 KiB")
    size, offset = struct.unpack_from("<II", tail, at + 12)
    if size != 0xFFFFFFFF and offset != 0xFFFFFFFF:
        return offset, size, None
    loc = tail.rfind(_ZIP64_LOCATOR, 0, at)
    if loc < 0:
        raise ValueError("zip64 archive without a zip64 locator")
    (record,) = struct.unpack_from("<Q", tail, loc + 8)
    if record >= tail_start:
        size, offset = struct.unpack_from("<QQ", tail, record - tail_start + 40)
        return offset, size, None
    return 0, 0, record


def _find_member(directory: bytes) -> tuple[int, int, int]:
    """(local header offset, compressed size, method) of ``*.dist-info/METADATA``."""
    pos = 0
    while directory.startswith(_CENTRAL, pos):
        (method,) = struct.unpack_from("<H", directory, pos + 10)
        csize, usize, nlen, elen, clen = struct.unpack_from("<IIHHH", directory, pos + 20)
        (offset,) = struct.unpack_from("<I", directory, pos + 42)
        name = directory[pos + 46 : pos + 46 + nlen].decode("utf-8", "replace")
        extra = directory[pos + 46 + nlen : pos + 46 + nlen + elen]
        if _METADATA.match(name):
            # zip64 extra field (id 1) holds, in order, whichever of these were 0xFFFFFFFF
            values = [v for v in (usize, csize, offset) if v == 0xFFFFFFFF]
            if values:
                epos = 0
                while epos + 4 <= len(extra):
                    eid, esize = struct.unpack_from("<HH", extra, epos)
                    if eid == 1:
                        fields = struct.unpack_from(f"<{esize // 8}Q", extra, epos + 4)
                        it = iter(fields)
                        if usize == 0xFFFFFFFF:
                            next(it)
                        if csize == 0xFFFFFFFF:
                            csize = next(it)
                        if offset == 0xFFFFFFFF:
                            offset = next(it)
                        break
                    epos += 4 + esize
            return offset, csize, method
        pos += 46 + nlen + elen + clen
    raise ValueError("no .dist-info/METADATA in the wheel")


async def remote_wheel_metadata(client: httpx.AsyncClient, url: str) -> bytes:
    """METADATA of the wheel at ``url``; raises NoRangeSupport or ValueError if it can't."""
    tail, total = await _range(client, url, f"-{_TAIL}")
    tail_start = max(total - len(tail), 0)
    offset, size, zip64_record = _central_directory_span(tail, tail_start)
    if zip64_record is not None:
        record, _ = await _range(client, url, f"{zip64_record}-{zip64_record + 55}")
        size, offset = struct.unpack_from("<QQ", record, 40)
    if offset >= tail_start:
        directory = tail[offset - tail_start : offset - tail_start + size]
    else:
        directory, _ = await _range(client, url, f"{offset}-{offset + size - 1}")
    local, csize, method = _find_member(directory)
    # the local header's extra field may differ from the central one: over-read a little
    chunk, _ = await _range(client, url, f"{local}-{local + 30 + 1024 + csize - 1}")
    if not chunk.startswith(_LOCAL):
        raise ValueError("bad local file header for METADATA")
    nlen, elen = struct.unpack_from("<HH", chunk, 26)
    data = chunk[30 + nlen + elen : 30 + nlen + elen + csize]
    if len(data) < csize:
        raise ValueError("METADATA member is truncated")
    if method == 0:
        return data
    if method == 8:
        return zlib.decompress(data, -15)
    raise ValueError(f"METADATA compressed with unsupported method {method}")
