"""Files already on this machine: copied and verified, by both backends alike.

``file://`` URLs and plain absolute paths (no HTTP, and aria2 fetches neither), and
``dest`` requests whose blob the content store already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ferry.errors import FetchError, Hint
from ferry.fetch.progress import ProgressListener
from ferry.fetch.request import FetchRequest, FetchResult
from ferry.fetch.verify import check, digest_algorithm
from ferry.store.cas import CHUNK_SIZE, ContentStore

__all__ = ["copy_in", "local_source"]

_PART_SUFFIX = ".ferry-part"


def local_source(request: FetchRequest) -> Path | None:
    """The local path behind a ``file://`` URL or a plain absolute path; None for others."""
    url = request.url
    if "://" not in url and Path(url).is_absolute():
        return Path(url)
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return None
    if parts.netloc not in ("", "localhost"):
        raise FetchError(
            f"{request.display_name}: cannot fetch {url}: file URLs on another host "
            "are not supported",
            context=f"fetching {request.display_name}",
            hint=Hint("file-share"),
        )
    return Path(url2pathname(parts.path))


async def copy_in(
    store: ContentStore,
    request: FetchRequest,
    source: Path,
    listener: ProgressListener,
    *,
    cached: bool,
) -> FetchResult:
    """Copy ``source`` into place, hashing as it goes; progress only if not ``cached``."""
    name = request.display_name
    algorithm = digest_algorithm(request)
    try:
        src = source.open("rb")
    except OSError as exc:
        raise FetchError(
            f"{name}: cannot read {source}: {exc.strerror or exc}",
            context=f"copying {name}",
            hint=Hint("file-readable"),
        ) from exc
    hasher = hashlib.new(algorithm)
    copied = 0
    try:
        with src, _staging(store, request) as (tmp, out):
            # Reading and hashing run in a thread so a slow disk never stalls downloads.
            while n := await asyncio.to_thread(_copy_chunk, src, out, hasher):
                copied += n
                if not cached:
                    listener.advance(name, n)
                if request.size is not None and copied > request.size:
                    break
            digest = hasher.hexdigest()
            check(request, copied, algorithm, digest)
            dest = await asyncio.to_thread(_commit, store, request, tmp, out)
    except BaseException:
        if not cached:
            listener.advance(name, -copied)
        raise
    return FetchResult(request, dest, 0 if cached else copied, from_cache=cached, digest=digest)


def _commit(store: ContentStore, request: FetchRequest, tmp: Path, out: BinaryIO) -> Path:
    if request.dest is None:
        return store.commit(tmp, request.digest, request.algorithm)
    out.flush()
    os.fsync(out.fileno())
    tmp.replace(request.dest)
    return request.dest


@contextlib.contextmanager
def _staging(store: ContentStore, request: FetchRequest) -> Iterator[tuple[Path, BinaryIO]]:
    if request.dest is None:
        with store.open_staging() as (tmp, fh):
            yield tmp, fh
        return
    tmp = request.dest.with_name(request.dest.name + _PART_SUFFIX)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    fh = tmp.open("wb")
    try:
        yield tmp, fh
    finally:
        fh.close()
        tmp.unlink(missing_ok=True)


def _copy_chunk(src: BinaryIO, dst: BinaryIO, hasher: hashlib._Hash) -> int:
    chunk = src.read(CHUNK_SIZE)
    if chunk:
        hasher.update(chunk)
        dst.write(chunk)
    return len(chunk)
