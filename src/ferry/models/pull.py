"""``ferry models pull org/name[@revision]``: a model (or dataset) from a Hugging Face–
compatible endpoint into this side's catalog, each file verified.

The endpoint is asked what the revision holds (the tree API: path, size, git blob id, and
for LFS files their sha256), the files come through Ferry's fetch engine (pieces over
several connections, resumed, the token sent to that endpoint only), and each is checked
as the Hub's own clients would check it: an LFS file by its sha256 while it arrives, a
small one by its git blob id once it is here. Only when every file holds does the version
become a row of the local catalog, its bytes in the kept store: a failure anywhere keeps
nothing.

Every name the endpoint gives is a stranger's: paths are checked as uploads' are.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ferry.db.catalog import CatalogRepository, FileRecord, NewFile, VersionRecord
from ferry.errors import FetchError, IntegrityError, UsageError
from ferry.fetch.backends import open_downloads
from ferry.fetch.progress import ProgressListener
from ferry.fetch.request import FetchRequest
from ferry.models.hashing import GitBlobHasher
from ferry.models.names import check_model_id, check_path, check_version, is_commit
from ferry.settings import Settings
from ferry.store.blob import BlobKey
from ferry.store.cas import ContentStore
from ferry.store.kept import KeptStore

__all__ = ["PulledFile", "pull_model", "remote_files"]

_MAX_FILES = 100_000


@dataclass(frozen=True)
class PulledFile:
    path: str
    size: int
    git_sha1: str
    sha256: str | None  # LFS files: known before the download


def _repo_url(endpoint: str, kind: str, repo: str) -> str:
    return f"{endpoint}/api/{kind}s/{quote(repo)}"


async def remote_files(
    client: httpx.AsyncClient, endpoint: str, kind: str, repo: str, revision: str
) -> tuple[str, list[PulledFile]]:
    """(the commit, its files) of ``revision``, from the endpoint's tree API."""
    info = await client.get(
        f"{_repo_url(endpoint, kind, repo)}/revision/{quote(revision, safe='')}"
    )
    _raise_for(info, repo, revision)
    commit = info.json().get("sha")
    if not isinstance(commit, str) or not is_commit(commit):
        raise FetchError(f"{endpoint}: {repo}@{revision} has no commit sha")
    url: str | None = f"{_repo_url(endpoint, kind, repo)}/tree/{commit}?recursive=true"
    files: list[PulledFile] = []
    while url is not None:
        page = await client.get(url)
        _raise_for(page, repo, revision)
        entries = page.json()
        if not isinstance(entries, list):
            raise FetchError(f"{url}: not a tree listing")
        for entry in entries:
            if isinstance(entry, dict) and entry.get("type") == "file":
                files.append(_file_of(endpoint, entry))
        if len(files) > _MAX_FILES:
            raise FetchError(f"{repo}@{revision}: more than {_MAX_FILES} files")
        following = page.links.get("next", {}).get("url")
        url = str(page.url.join(following)) if following else None
    return commit, files


def _file_of(endpoint: str, entry: dict[str, Any]) -> PulledFile:
    path, size, oid = entry.get("path"), entry.get("size"), entry.get("oid")
    if not isinstance(path, str):
        raise FetchError(f"{endpoint}: a tree entry without a path")
    check_path(path)
    if not isinstance(size, int) or size < 0 or not isinstance(oid, str):
        raise FetchError(f"{endpoint}: {path} has no size or oid")
    lfs = entry.get("lfs")
    sha256 = lfs.get("oid") if isinstance(lfs, dict) else None
    if sha256 is not None and (not isinstance(sha256, str) or len(sha256) != 64):
        raise FetchError(f"{endpoint}: {path} has an LFS oid that is no sha256")
    return PulledFile(path, size, oid, sha256)


def _raise_for(answer: httpx.Response, repo: str, revision: str) -> None:
    if answer.status_code == 200:
        return
    code = answer.headers.get("x-error-code")
    if answer.status_code in (401, 403):
        raise FetchError(
            f"{answer.url.host} refused to show {repo} (HTTP {answer.status_code})",
            hint="Give a token with HF_TOKEN (a read token of that service).",
        )
    if code == "RevisionNotFound":
        raise UsageError(f"{repo} has no revision {revision}")
    if answer.status_code == 404:
        raise UsageError(f"{answer.url.host} has no {repo}")
    raise FetchError(f"{answer.url} answered HTTP {answer.status_code}")


async def pull_model(
    settings: Settings,
    kept: KeptStore,
    repo: str,
    revision: str,
    *,
    kind: str = "model",
    endpoint: str,
    token: str | None,
    version: str | None = None,
    listener: ProgressListener | None = None,
    owner: str = "local",
) -> VersionRecord:
    check_model_id(repo)
    endpoint = endpoint.rstrip("/")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"endpoint {endpoint}: an http:// or https:// URL")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=60, follow_redirects=True) as client:
        commit, files = await remote_files(client, endpoint, kind, repo, revision)
    if not files:
        raise UsageError(f"{repo}@{revision} has no files")
    name = version or _version_name(revision, commit)
    check_version(name)
    assert kept.catalog is not None
    catalog = kept.catalog
    existing = await kept.db(catalog.get, kind, repo)
    held = existing.version(name) if existing is not None else None
    if held is not None:
        if {(f.path, f.size) for f in held.files} == {(f.path, f.size) for f in files}:
            return held  # pulled before
        raise UsageError(f"{repo} {name} is held already with other files: name another --version")
    spool = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "pull-", str(settings.data_dir)))
    try:
        prefix = "datasets/" if kind == "dataset" else ""
        requests = [
            FetchRequest(
                url=f"{endpoint}/{prefix}{quote(repo)}/resolve/{commit}/{quote(f.path)}",
                digest=f.sha256 or "",
                size=f.size,
                name=f.path,
                dest=spool / str(i),
            )
            for i, f in enumerate(files)
        ]
        origin = f"{parts.scheme}://{parts.netloc}"
        native = settings.model_copy(update={"fetch_backend": "native"})
        store = ContentStore(settings.blob_dir)
        auth = {origin: headers["Authorization"]} if headers else None
        async with open_downloads(
            native, store, cert=settings.cert, proxy=settings.proxy, auth=auth
        ) as dl:
            report = await dl.fetcher(listener).fetch_all(requests)
        report.raise_for_failures()
        records = await asyncio.to_thread(_checked, files, spool)
        await kept.db.write(lambda: catalog.ensure_model(kind, repo, owner=owner))
        for i, record in enumerate(records):
            key = BlobKey.sha256(record.sha256)
            async with kept.locks.hold(key):
                await kept.blobs.move_file(spool / str(i), key)
                await kept.db.write(_stage(catalog, kind, repo, name, record, owner))
        return await kept.db.write(
            lambda: catalog.publish(
                kind,
                repo,
                name,
                [NewFile(r.path, r.sha256, r.size) for r in records],
                owner=owner,
                make_default=True,
            )
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, spool, True)


def _stage(
    catalog: CatalogRepository, kind: str, repo: str, name: str, record: FileRecord, owner: str
) -> Callable[[], str | None]:
    return lambda: catalog.stage_upload(kind, repo, name, record, owner=owner)


def _version_name(revision: str, commit: str) -> str:
    """A branch or tag name stays the version's name; ``main`` or a commit becomes the
    commit's first 12 digits."""
    if revision != "main" and not is_commit(revision):
        try:
            return check_version(revision)
        except UsageError:
            pass
    return commit[:12]


def _checked(files: list[PulledFile], spool: Path) -> list[FileRecord]:
    """Each downloaded file against what the endpoint said: size, LFS sha256 (checked by
    the engine as it arrived, again here), git blob id for the others."""
    records = []
    for i, f in enumerate(files):
        path = spool / str(i)
        size = path.stat().st_size
        if size != f.size:
            raise IntegrityError(f"{f.path}: {size} bytes arrived, the endpoint said {f.size}")
        sha256, git = hashlib.sha256(), GitBlobHasher(size)
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                sha256.update(chunk)
                git.update(chunk)
        digest, blob_id = sha256.hexdigest(), git.hexdigest()
        if f.sha256 is not None and digest != f.sha256:
            raise IntegrityError(f"{f.path}: sha256 {digest}, the endpoint said {f.sha256}")
        if f.sha256 is None and blob_id != f.git_sha1:
            raise IntegrityError(f"{f.path}: git blob id {blob_id}, the endpoint said {f.git_sha1}")
        records.append(FileRecord(f.path, size, digest, blob_id))
    return records
