"""What the fetch engine is asked for, and what it answers."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ferry.errors import FerryError, IntegrityError

__all__ = ["FetchReport", "FetchRequest", "FetchResult"]


@dataclass(frozen=True)
class FetchRequest:
    """One file to fetch: where from, and the digest (and size, if known) it must have.

    ``digest`` is hex of ``algorithm`` (sha256 for Python files; npm locks record sha512,
    or sha1 for very old entries); the blob is stored under that algorithm. Without
    ``dest`` the file goes into the content store; with it, to that path (``ferry fetch``),
    and then ``digest`` may be empty: the sha256 is computed and reported instead.

    ``url`` is ``http(s)://``, ``file://`` or a plain absolute path; ``mirrors`` are tried
    in order when it fails. ``name`` is only for display; it defaults to the last segment
    of the URL. Lower ``priority`` values get connections first.
    """

    url: str
    digest: str
    size: int | None = None
    name: str = ""
    algorithm: str = "sha256"
    mirrors: tuple[str, ...] = ()
    priority: int = 0
    dest: Path | None = None

    @property
    def key(self) -> tuple[str, str]:
        if self.digest:
            return (self.algorithm, self.digest)
        return ("dest", str(self.dest))

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors)

    @functools.cached_property
    def display_name(self) -> str:
        if self.name:
            return self.name
        tail = unquote(urlsplit(self.url).path.rstrip("/").rsplit("/", 1)[-1])
        return tail or self.digest[:12] or "download"


@dataclass
class FetchResult:
    """A file that is in place; ``bytes_fetched`` is what this run downloaded of it.

    ``digest`` is the hex digest of its bytes under the request's algorithm (sha256 when
    the request named none).
    """

    request: FetchRequest
    path: Path
    bytes_fetched: int
    from_cache: bool
    digest: str = ""


@dataclass
class FetchReport:
    """The outcome of :meth:`Fetcher.fetch_all`: one entry per distinct file, in order."""

    results: list[FetchResult] = field(default_factory=list)
    failures: list[tuple[FetchRequest, FerryError]] = field(default_factory=list)

    @property
    def bytes_fetched(self) -> int:
        return sum(r.bytes_fetched for r in self.results)

    @property
    def from_cache(self) -> int:
        return sum(1 for r in self.results if r.from_cache)

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_for_failures(self) -> None:
        """Raise the first failure (an IntegrityError as is), naming every failed file."""
        if not self.failures:
            return
        _, error = self.failures[0]
        if isinstance(error, IntegrityError):
            raise error
        names = ", ".join(r.display_name for r, _ in self.failures)
        raise type(error)(
            f"{len(self.failures)} file(s) could not be fetched: {names}; first: {error.message}",
            hint=error.hint,
        )
