"""Ask the index for a distribution's core metadata without downloading the distribution:
PEP 658 ``<file>.metadata``, or METADATA read out of the wheel with Range requests.

(Yanked status is not read here: uv reports the yanked releases it chose.)
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ferry.ecosystems.pypi.lazywheel import NoRangeSupport, remote_wheel_metadata
from ferry.errors import FetchError


class _Transient(Exception):
    pass


class IndexClient:
    def __init__(self, client: httpx.AsyncClient, *, retries: int = 3) -> None:
        self._client = client
        self._retries = retries

    async def metadata(self, file_url: str) -> bytes:
        """PEP 658: the core metadata published beside a distribution file."""
        url = file_url + ".metadata"
        if url.startswith("file://"):
            return await asyncio.to_thread(Path(unquote(urlsplit(url).path)).read_bytes)
        response = await self._get(url)
        if response.status_code >= 400:
            raise FetchError(f"metadata {url} answered HTTP {response.status_code}")
        return response.content

    async def wheel_metadata_by_range(self, file_url: str) -> bytes:
        """METADATA read out of the remote wheel with Range requests (no PEP 658 file)."""
        try:
            return await remote_wheel_metadata(self._client, file_url)
        except (NoRangeSupport, ValueError, struct.error, zlib.error, httpx.HTTPError) as exc:
            raise FetchError(f"could not read METADATA inside {file_url}: {exc}") from exc

    async def _get(self, url: str) -> httpx.Response:
        """GET with retries on transport errors, 5xx and 429 (small documents only)."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retries + 1),
            wait=wait_exponential_jitter(multiplier=0.2, max=5),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        response = await self._client.get(url)
                    except httpx.TransportError as exc:
                        raise _Transient(str(exc)) from exc
                    if response.status_code >= 500 or response.status_code == 429:
                        raise _Transient(f"HTTP {response.status_code}")
                    return response
        except (_Transient, httpx.HTTPError) as exc:
            raise FetchError(f"could not read {url}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover
