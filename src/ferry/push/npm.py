"""npm tarballs into an npm registry: the packument read to see which versions are there,
the ``npm publish`` PUT (libnpmpublish's document: the version's manifest, a dist-tag, the
tarball as a base64 attachment) to add what is not.

The document is written out as it is sent, the tarball's base64 made a piece at a time
from the file, so a large tarball never sits in memory whole (npm itself holds it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ferry.errors import FetchError
from ferry.push.pypi import Answer, excerpt, refuse_credentials
from ferry.push.targets import PushTarget

__all__ = ["NpmRegistry", "Published"]

_PIECE = 3 * 256 * 1024  # a multiple of 3: base64 of each piece joins without padding
ABBREVIATED = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"


@dataclass(frozen=True)
class Published:
    """What a registry holds of one package."""

    versions: dict[str, tuple[str | None, str | None]]  # version → (integrity, shasum)
    latest: str | None


class NpmRegistry:
    def __init__(
        self, client: httpx.AsyncClient, target: PushTarget, authorization: str | None
    ) -> None:
        self.client = client
        self.target = target
        self.headers = {"Authorization": authorization} if authorization else {}

    def _url(self, name: str) -> str:
        return self.target.url + quote(name, safe="@")

    async def published(self, name: str) -> Published:
        url = self._url(name)
        response = await self.client.get(url, headers={**self.headers, "Accept": ABBREVIATED})
        if response.status_code == 404:
            return Published({}, None)
        refuse_credentials(response, self.target)
        if response.status_code != 200:
            raise FetchError(f"{url} answered HTTP {response.status_code}: {excerpt(response)}")
        try:
            doc = response.json()
            versions = {str(v): _dist(meta) for v, meta in (doc.get("versions") or {}).items()}
            latest = (doc.get("dist-tags") or {}).get("latest")
        except (ValueError, AttributeError) as exc:
            raise FetchError(f"{url}: not a packument ({exc})") from None
        return Published(versions, latest if isinstance(latest, str) else None)

    async def publish(
        self,
        path: Path,
        manifest: dict[str, Any],
        *,
        tag: str,
        integrity: str,
        shasum: str,
        size: int,
    ) -> Answer:
        name, version = str(manifest["name"]), str(manifest["version"])
        tarball_name = f"{name}-{version}.tgz"
        version_doc = {
            **manifest,
            "_id": f"{name}@{version}",
            "dist": {
                "integrity": integrity,
                "shasum": shasum,
                "tarball": f"{self.target.url}{name}/-/{tarball_name}",
            },
        }
        marker = "\0ferry-attachment\0"
        document = {
            "_id": name,
            "name": name,
            "description": manifest.get("description"),
            "dist-tags": {tag: version},
            "versions": {version: version_doc},
            "access": "public",
            "_attachments": {
                tarball_name: {
                    "content_type": "application/octet-stream",
                    "data": marker,
                    "length": size,
                }
            },
        }
        head, _, tail = json.dumps(document).partition(json.dumps(marker))
        head_bytes, tail_bytes = (head + '"').encode(), ('"' + tail).encode()
        length = len(head_bytes) + 4 * ((size + 2) // 3) + len(tail_bytes)
        response = await self.client.put(
            self._url(name),
            content=_body(head_bytes, path, tail_bytes),
            headers={
                **self.headers,
                "Content-Type": "application/json",
                "Content-Length": str(length),
                "npm-command": "publish",
            },
        )
        refuse_credentials(response, self.target)
        return Answer(response.status_code, excerpt(response))


async def _body(head: bytes, path: Path, tail: bytes) -> AsyncIterator[bytes]:
    yield head
    with path.open("rb") as fh:
        while piece := fh.read(_PIECE):
            yield base64.b64encode(piece)
    yield tail


def _dist(meta: object) -> tuple[str | None, str | None]:
    dist = meta.get("dist") if isinstance(meta, dict) else None
    if not isinstance(dist, dict):
        return (None, None)
    integrity, shasum = dist.get("integrity"), dist.get("shasum")
    return (
        integrity if isinstance(integrity, str) else None,
        shasum if isinstance(shasum, str) else None,
    )
