"""``ferry fetch``: plain URLs to files in a directory, on the same engine as bundles."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ferry.errors import UsageError
from ferry.fetch.backends import open_downloads
from ferry.fetch.inputfile import parse_input_file
from ferry.fetch.progress import ProgressListener
from ferry.fetch.request import FetchReport, FetchRequest
from ferry.fetch.verify import hash_file
from ferry.settings import Settings
from ferry.store.cas import ContentStore, check_digest

__all__ = ["DownloadPlan", "plan_downloads", "run_downloads"]


@dataclass
class DownloadPlan:
    requests: list[FetchRequest]
    kept: list[FetchRequest]  # already complete at their destination: not fetched again


def plan_downloads(
    urls: list[str],
    *,
    input_file: Path | None,
    out_dir: Path,
    sha256: str | None,
    force: bool = False,
) -> DownloadPlan:
    """Turn the command line (and ``-i`` list) into requests, refusing ambiguous ones."""
    requests: list[FetchRequest] = []
    if sha256 is not None:
        if len(urls) != 1 or input_file is not None:
            raise UsageError(
                "--sha256 names the digest of one file, but more than one is being fetched",
                hint="Give one URL, or put checksum=sha-256=<hex> lines in an -i list.",
            )
        try:
            sha256 = check_digest(sha256.lower())
        except ValueError as exc:
            raise UsageError(f"--sha256: {exc}") from exc
    for url in urls:
        _check_url(url)
        requests.append(FetchRequest(url, sha256 or "", dest=out_dir / _name_for(url)))
    if input_file is not None:
        for entry in parse_input_file(input_file):
            folder = out_dir / entry.dir if entry.dir else out_dir
            name = entry.out or _name_for(entry.uris[0])
            requests.append(
                FetchRequest(
                    entry.uris[0],
                    entry.digest,
                    algorithm=entry.algorithm,
                    mirrors=tuple(entry.uris[1:]),
                    dest=folder / name,
                )
            )
    if not requests:
        raise UsageError("nothing to fetch", hint="Give URLs, or a list with -i FILE.")
    seen: dict[Path, str] = {}
    for request in requests:
        assert request.dest is not None
        if request.dest in seen:
            raise UsageError(
                f"{request.url} and {seen[request.dest]} would both be saved as {request.dest}",
                hint="Name one of them with out=NAME in an -i list.",
            )
        seen[request.dest] = request.url
    kept: list[FetchRequest] = []
    if not force:
        kept = [r for r in requests if _complete(r)]
        requests = [r for r in requests if r not in kept]
    return DownloadPlan(requests, kept)


def _complete(request: FetchRequest) -> bool:
    """Whether an earlier run finished this file: it exists with no partial beside it,
    and has the digest asked for, when one was."""
    dest = request.dest
    assert dest is not None
    if not dest.is_file() or dest.with_name(dest.name + ".ferry-part").exists():
        return False
    if not request.digest:
        return True
    digest, _size = hash_file(dest, request.algorithm)
    return digest == request.digest


def _check_url(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise UsageError(f"not a URL Ferry can fetch: {url!r}", hint="Use http(s):// or file://.")


def _name_for(url: str) -> str:
    tail = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    # A name from a URL must never climb out of the output directory.
    if not tail or tail in (".", "..") or "/" in tail or "\\" in tail:
        return "index.html"
    return tail


async def run_downloads(
    settings: Settings, requests: list[FetchRequest], listener: ProgressListener
) -> FetchReport:
    store = ContentStore(settings.blob_dir)
    async with open_downloads(settings, store, cert=settings.cert, proxy=settings.proxy) as dl:
        return await dl.fetcher(listener).fetch_all(requests)


def run(
    settings: Settings, requests: list[FetchRequest], listener: ProgressListener
) -> FetchReport:
    return asyncio.run(run_downloads(settings, requests, listener))
