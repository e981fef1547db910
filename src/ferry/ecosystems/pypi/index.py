"""Read a Python package index's project pages (PEP 691 JSON, PEP 503 HTML) and PEP 658
metadata: what uv's lock output does not carry (yanked status, metadata location)."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from packaging.utils import canonicalize_name
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ferry.ecosystems.pypi.lazywheel import NoRangeSupport, remote_wheel_metadata
from ferry.errors import FetchError

JSON_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)


@dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    yanked: str | None  # None: not yanked; "" yanked without a reason
    # PEP 658: True/False when the index says, None when it says nothing (some mirrors
    # drop the field but still serve the file, so it is worth one try).
    has_metadata: bool | None
    requires_python: str | None = None


def _yanked(value: object) -> str | None:
    if value is None or value is False:
        return None
    return "" if value is True else str(value)


def parse_json_page(body: bytes, page_url: str) -> dict[str, IndexFile]:
    data = json.loads(body)
    out: dict[str, IndexFile] = {}
    for f in data.get("files", []):
        meta = f.get("core-metadata", f.get("dist-info-metadata"))
        out[f["filename"]] = IndexFile(
            filename=f["filename"],
            url=urljoin(page_url, f["url"]),
            yanked=_yanked(f.get("yanked")),
            has_metadata=None if meta is None else bool(meta),
            requires_python=f.get("requires-python"),
        )
    return out


class _AnchorParser(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.files: dict[str, IndexFile] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        a = dict(attrs)
        href = a.get("href")
        if not href:
            return
        url = urljoin(self.page_url, href)
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        meta = a.get("data-core-metadata", a.get("data-dist-info-metadata"))
        self.files[filename] = IndexFile(
            filename=filename,
            url=url.split("#", 1)[0],
            yanked=a["data-yanked"] or "" if "data-yanked" in a else None,
            has_metadata=None if meta is None else meta != "false",
            requires_python=a.get("data-requires-python"),
        )


def parse_html_page(body: bytes, page_url: str) -> dict[str, IndexFile]:
    parser = _AnchorParser(page_url)
    parser.feed(body.decode("utf-8", errors="replace"))
    return parser.files


def _read_local_page(path: Path) -> dict[str, IndexFile] | None:
    """A ``file://`` index laid out as pip and uv read it: ``<project>/index.html``."""
    for candidate in (path / "index.html", path.with_suffix(".html")):
        if candidate.is_file():
            return parse_html_page(candidate.read_bytes(), candidate.as_uri())
    return None


class _Transient(Exception):
    pass


class IndexClient:
    """Project pages and metadata, over HTTP or from a ``file://`` index on disk."""

    def __init__(self, client: httpx.AsyncClient, *, retries: int = 3) -> None:
        self._client = client
        self._retries = retries
        # Tasks, not results: targets resolved at the same time share one request per page.
        self._pages: dict[tuple[str, str], asyncio.Task[dict[str, IndexFile] | None]] = {}

    async def project_files(self, index_url: str, project: str) -> dict[str, IndexFile] | None:
        """The files an index lists for ``project``; None when the index does not have it."""
        key = (index_url, canonicalize_name(project))
        if key not in self._pages:
            self._pages[key] = asyncio.ensure_future(self._fetch_page(index_url, key[1]))
        return await asyncio.shield(self._pages[key])

    async def _fetch_page(self, index_url: str, name: str) -> dict[str, IndexFile] | None:
        page_url = urljoin(index_url if index_url.endswith("/") else index_url + "/", f"{name}/")
        if page_url.startswith("file://"):
            return await asyncio.to_thread(_read_local_page, Path(unquote(urlsplit(page_url).path)))
        response = await self._get(page_url, {"Accept": JSON_ACCEPT})
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise FetchError(f"index page {page_url} answered HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "")
        final_url = str(response.url)
        if "json" in content_type:
            return parse_json_page(response.content, final_url)
        return parse_html_page(response.content, final_url)

    async def find_file(
        self, indexes: tuple[str, ...], project: str, filename: str
    ) -> IndexFile | None:
        for index in indexes:
            files = await self.project_files(index, project)
            if files and filename in files:
                return files[filename]
        return None

    async def metadata(self, file_url: str) -> bytes:
        """PEP 658: the core metadata published beside a distribution file."""
        url = file_url + ".metadata"
        if url.startswith("file://"):
            return await asyncio.to_thread(Path(unquote(urlsplit(url).path)).read_bytes)
        response = await self._get(url, {})
        if response.status_code >= 400:
            raise FetchError(f"metadata {url} answered HTTP {response.status_code}")
        return response.content

    async def wheel_metadata_by_range(self, file_url: str) -> bytes:
        """METADATA read out of the remote wheel with Range requests (no PEP 658 file)."""
        try:
            return await remote_wheel_metadata(self._client, file_url)
        except (NoRangeSupport, ValueError, struct.error, zlib.error, httpx.HTTPError) as exc:
            raise FetchError(f"could not read METADATA inside {file_url}: {exc}") from exc

    async def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
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
                        response = await self._client.get(url, headers=headers)
                    except httpx.TransportError as exc:
                        raise _Transient(str(exc)) from exc
                    if response.status_code >= 500 or response.status_code == 429:
                        raise _Transient(f"HTTP {response.status_code}")
                    return response
        except _Transient as exc:
            raise FetchError(f"could not read {url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"could not read {url}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover
