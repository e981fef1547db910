"""A kept blob as an HTTP answer: streamed, with Range, ETag (its sha256), If-None-Match
and If-Range, or a redirect to a presigned URL of an S3 store.

Packages and task archives are both answered this way; a missing blob becomes the
caller's own "not found" (``missing``), logged, since a row whose bytes are gone is a
fault of the store, not of the request.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from ferry.errors import ExitCode, FerryError
from ferry.store.blob import BlobKey, BlobNotFound, BlobStore

__all__ = ["RangeNotSatisfiable", "blob_response", "disposition", "file_responses"]

log = logging.getLogger(__name__)

# how long a presigned URL handed out by a redirect lives
PRESIGN_SECONDS = 300.0
_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")


class RangeNotSatisfiable(FerryError):
    code = "range-not-satisfiable"
    exit_code = ExitCode.USAGE
    http_status = 416

    def __init__(self, asked: str, size: int) -> None:
        super().__init__(params={"range": asked[:100], "size": str(size)})
        self.headers = {"Content-Range": f"bytes */{size}"}


def file_responses(what: str, *, redirect: bool = False) -> dict[int | str, dict[str, Any]]:
    """What :func:`blob_response` may answer, for a route's OpenAPI ``responses``."""
    binary = {"application/octet-stream": {"schema": {"format": "binary"}}}
    answers: dict[int | str, dict[str, Any]] = {
        200: {"description": f"The {what}.", "content": binary},
        206: {"description": "The byte range asked for.", "content": binary},
        304: {"description": f"If-None-Match named the {what}'s ETag (its sha256)."},
        416: {"description": f"The range is outside the {what}."},
    }
    if redirect:
        answers[307] = {"description": "With redirect=1 and an S3 store: its presigned URL."}
    return answers


async def blob_response(
    request: Request,
    blobs: BlobStore,
    key: BlobKey,
    size: int,
    filename: str,
    *,
    missing: Callable[[], Exception],
    redirect: bool = False,
    etag: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> Response:
    """The blob as a download: Range (206, 416), ETag (the blob's digest unless ``etag``
    names another) with If-None-Match and If-Range, or with ``redirect`` a presigned URL
    where the store has them; ``extra`` headers go on every answer, the redirect too."""
    etag = f'"{etag or key.digest}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition(filename),
        "Cache-Control": "private, max-age=0, must-revalidate",
        **(extra or {}),
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag, **(extra or {})})
    if redirect:
        url = await blobs.presigned_url(key, PRESIGN_SECONDS)
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"ETag": etag, **(extra or {})})
    asked = request.headers.get("range")
    if_range = request.headers.get("if-range")
    span = None
    if asked is not None and (if_range is None or if_range.strip() == etag):
        span = _parse_range(asked, size)
    start, end = span if span is not None else (0, size)
    body = blobs.read(key, start, end)
    try:
        first = await anext(body)
    except BlobNotFound:
        log.error("blob %s of %s is missing from the store %s", key, filename, blobs.location)
        raise missing() from None
    except StopAsyncIteration:
        first = b""
    headers["Content-Length"] = str(end - start)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        _stream(first, body),
        status_code=status,
        headers=headers,
        media_type="application/octet-stream",
    )


def disposition(filename: str) -> str:
    """``attachment`` with an ASCII name every client takes, and the real one (RFC 6266)."""
    plain = re.sub(r"[^A-Za-z0-9._+~-]", "_", filename) or "download"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as ``[start, end)``; None to send the whole file (a header that
    does not parse, or several ranges: RFC 9110 lets a server ignore those);
    :class:`RangeNotSatisfiable` when it parses but no byte of the file is in it."""
    found = _RANGE.fullmatch(header.strip())
    if found is None or not (found[1] or found[2]):
        return None
    if found[1]:
        start = int(found[1])
        last = int(found[2]) if found[2] else None
        if last is not None and last < start:
            return None
        if start >= size:
            raise RangeNotSatisfiable(header, size)
        return start, size if last is None else min(last + 1, size)
    suffix = int(found[2])
    if suffix == 0:
        raise RangeNotSatisfiable(header, size)
    return max(0, size - suffix), size


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def _stream(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async with contextlib.aclosing(rest):  # type: ignore[type-var]
        if first:
            yield first
        async for chunk in rest:
            yield chunk
