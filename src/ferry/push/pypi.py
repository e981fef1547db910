"""Python files into a PyPI-like repository: its simple page read to see what is there,
the legacy upload API (what twine posts, and what devpi, Nexus, Artifactory and PyPI
itself take) to add what is not.

The form carries the core metadata as twine sends it (``metadata_dictionary``), read from
the wheel's METADATA or the sdist's PKG-INFO, with md5, sha256 and blake2b-256 digests; the
file itself is streamed from disk.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename

from ferry.errors import FetchError
from ferry.push.targets import PushTarget

__all__ = ["Listing", "PypiRepository", "upload_form"]

SIMPLE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)
_MAX_METADATA = 16 * 1024 * 1024
# core metadata field → the form field twine sends it as (lists where it may repeat)
_SINGLE = {
    "Summary": "summary",
    "Home-page": "home_page",
    "Author": "author",
    "Author-email": "author_email",
    "Maintainer": "maintainer",
    "Maintainer-email": "maintainer_email",
    "License": "license",
    "License-Expression": "license_expression",
    "Keywords": "keywords",
    "Download-URL": "download_url",
    "Requires-Python": "requires_python",
    "Description-Content-Type": "description_content_type",
}
_MULTIPLE = {
    "Platform": "platform",
    "Classifier": "classifiers",
    "Supported-Platform": "supported_platform",
    "Provides": "provides",
    "Requires": "requires",
    "Obsoletes": "obsoletes",
    "Project-URL": "project_urls",
    "Provides-Dist": "provides_dist",
    "Obsoletes-Dist": "obsoletes_dist",
    "Requires-Dist": "requires_dist",
    "Requires-External": "requires_external",
    "Provides-Extra": "provides_extras",
    "Dynamic": "dynamic",
    "License-File": "license_file",
}

Listing = dict[str, str | None]  # file name → the sha256 the page gives it (None: no hash)


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


class PypiRepository:
    def __init__(
        self, client: httpx.AsyncClient, target: PushTarget, auth: tuple[str, str] | None
    ) -> None:
        self.client = client
        self.target = target
        self.auth = httpx.BasicAuth(*auth) if auth is not None else None

    async def listing(self, project: str) -> Listing:
        """What the repository holds of ``project``: an empty listing if nothing."""
        url = self.target.project_url(canonicalize_name(project))
        response = await self.client.get(
            url, headers={"Accept": SIMPLE_ACCEPT}, auth=self.auth or httpx.USE_CLIENT_DEFAULT
        )
        if response.status_code == 404:
            return {}
        refuse_credentials(response, self.target)
        if response.status_code != 200:
            raise FetchError(f"{url} answered HTTP {response.status_code}: {excerpt(response)}")
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        if kind == "application/vnd.pypi.simple.v1+json":
            return _from_json(url, response)
        return _from_html(response.text)

    async def upload(self, path: Path, filename: str, metadata: bytes | None) -> Answer:
        """POST the file as twine does; the repository's answer, as it gave it."""
        form = await asyncio.to_thread(upload_form, path, filename, metadata)
        with path.open("rb") as fh:
            response = await self.client.post(
                self.target.url,
                data=form,
                files={"content": (filename, fh, "application/octet-stream")},
                auth=self.auth or httpx.USE_CLIENT_DEFAULT,
            )
        refuse_credentials(response, self.target)
        return Answer(response.status_code, excerpt(response))


def refuse_credentials(response: httpx.Response, target: PushTarget) -> None:
    """Stop the push when the registry will not have this user: every file would fail."""
    if response.status_code in (401, 403) and not _says_exists(response):
        who = "no credentials" if "authorization" not in response.request.headers else "these"
        raise FetchError(
            f"{target.describe()} refused {who} (HTTP {response.status_code}): {excerpt(response)}",
            hint="Give credentials the way twine or npm would find them (.pypirc, "
            "TWINE_USERNAME/TWINE_PASSWORD, user:password in --to; .npmrc's _authToken), "
            "for a user allowed to upload there.",
        )


def says_exists(response_text: str, status: int) -> bool:
    """Whether a refused upload says the file is there already (each product words it
    its own way: devpi 409, PyPI 400 'File already exists', Nexus 400 'does not allow
    updating', Artifactory 403/409)."""
    if status == 409:
        return True
    text = response_text.lower()
    return status in (400, 403) and ("exist" in text or "updating" in text or "overwrite" in text)


def _says_exists(response: httpx.Response) -> bool:
    return says_exists(excerpt(response), response.status_code)


def excerpt(response: httpx.Response) -> str:
    """The start of what the server said, on one line."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    return " ".join(text.split())[:300]


def upload_form(path: Path, filename: str, metadata: bytes | None) -> dict[str, str | list[str]]:
    """The form fields twine sends with a file (all but the file)."""
    if metadata is None:
        metadata = _sdist_metadata(path, filename)
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(metadata)
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    blake2 = hashlib.blake2b(digest_size=32)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            md5.update(chunk)
            sha256.update(chunk)
            blake2.update(chunk)
    if filename.endswith(".whl"):
        filetype, pyversion = "bdist_wheel", filename[: -len(".whl")].split("-")[-3]
    else:
        filetype, pyversion = "sdist", "source"
    form: dict[str, str | list[str]] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": message.get("Metadata-Version") or "1.0",
        "name": message.get("Name") or "",
        "version": message.get("Version") or "",
        "filetype": filetype,
        "pyversion": pyversion,
        "md5_digest": md5.hexdigest(),
        "sha256_digest": sha256.hexdigest(),
        "blake2_256_digest": blake2.hexdigest(),
    }
    for header, field in _SINGLE.items():
        value = message.get(header)
        if value:
            form[field] = str(value)
    for header, field in _MULTIPLE.items():
        values = message.get_all(header)
        if values:
            form[field] = [str(v) for v in values]
    description = message.get("Description") or _body(message)
    if description:
        form["description"] = description
    return form


def _body(message: Message) -> str:
    payload = message.get_payload()
    return payload if isinstance(payload, str) else ""


def _sdist_metadata(path: Path, filename: str) -> bytes:
    """An sdist's PKG-INFO (the shortest path: the project's own, not a vendored one's);
    when it has none, the name and version its file name gives."""
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                names = [
                    i for i in zf.infolist() if i.filename.endswith("/PKG-INFO") and i.file_size
                ]
                if names:
                    best = min(names, key=lambda i: len(i.filename))
                    if best.file_size <= _MAX_METADATA:
                        return zf.read(best)
        else:
            with tarfile.open(path) as tf:
                members = [m for m in tf if m.isfile() and m.name.endswith("/PKG-INFO")]
                if members:
                    best_member = min(members, key=lambda m: len(m.name))
                    body = tf.extractfile(best_member)
                    if body is not None and best_member.size <= _MAX_METADATA:
                        return body.read()
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError):
        pass
    try:
        name, version = parse_sdist_filename(filename)
    except InvalidSdistFilename:
        return b"Metadata-Version: 1.0\n"
    return f"Metadata-Version: 1.0\nName: {name}\nVersion: {version}\n".encode()


def _from_json(url: str, response: httpx.Response) -> Listing:
    try:
        doc = response.json()
        files = doc["files"]
        return {
            str(f["filename"]): (f.get("hashes") or {}).get("sha256")
            for f in files
            if isinstance(f, dict) and "filename" in f
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"{url}: not a simple index page ({exc})") from None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: Listing = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        href = dict(attrs).get("href")
        if not href:
            return
        parts = urlsplit(href)
        name = unquote(parts.path.rpartition("/")[2])
        if not name:
            return
        sha256 = None
        key, _, value = parts.fragment.partition("=")
        if key == "sha256" and value:
            sha256 = value.lower()
        self.found[name] = sha256


def _from_html(text: str) -> Listing:
    parser = _Anchors()
    parser.feed(text)
    return parser.found
