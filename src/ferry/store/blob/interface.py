"""What every blob store offers, whatever holds the bytes.

A blob is immutable bytes named by their digest (:class:`BlobKey`): the name cannot lie, so
a blob that exists is complete and right, two writers of the same bytes store them once,
and nothing ever needs updating in place. Every backend keeps that promise the same way:
bytes become visible under their key in one atomic step (a rename, an S3 PUT or
CompleteMultipartUpload) only after all of them were hashed.

Ranges are half-open, ``[start, end)`` as in Python slicing, and must lie inside the blob;
a range past its end is an error (:class:`BlobRangeError`), never silently shortened, so a
caller's wrong offset shows up where it was made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from ferry.errors import ConfigError
from ferry.store.cas import ALGORITHMS, check_digest

__all__ = [
    "BlobInfo",
    "BlobKey",
    "BlobNotFound",
    "BlobRangeError",
    "BlobStore",
    "BlobStoreError",
    "BlobWriter",
    "Bytes",
    "NoDirectUpload",
    "PresignedPut",
    "check_bounds",
    "check_range",
]

# what a writer takes: anything with the buffer protocol that Python 3.11 can name
Bytes = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True, order=True)
class BlobKey:
    """A blob's name: the digest algorithm and the lowercase hex digest of its bytes."""

    algorithm: str
    digest: str

    def __post_init__(self) -> None:
        # keys become paths and object names: anything but plain hex of the right length
        # (``..``, ``/``, uppercase aliases) is refused here, once, for every backend
        check_digest(self.digest, self.algorithm)

    @classmethod
    def sha256(cls, digest: str) -> BlobKey:
        return cls("sha256", digest)

    @classmethod
    def parse(cls, text: str) -> BlobKey:
        """``"sha256:<hex>"`` (the form :meth:`__str__` writes) back into a key."""
        algorithm, sep, digest = text.partition(":")
        if not sep or algorithm not in ALGORITHMS:
            raise ValueError(f"not a blob key (algorithm:hex): {text!r}")
        return cls(algorithm, digest)

    @property
    def relpath(self) -> str:
        """``<algorithm>/<aa>/<bb>/<hex>``: where the blob lives under a store's root.

        Two levels of fan-out keep directories (and S3 listing pages) small; the same
        layout on disk and in a bucket lets a local store be synced into S3 as it is.
        """
        d = self.digest
        return f"{self.algorithm}/{d[:2]}/{d[2:4]}/{d}"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.digest}"


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: BlobKey
    size: int
    # when the blob was stored (a local blob: last used), as a POSIX time; only listings
    # fill it in, for garbage collection's age guard
    modified: float | None = None


class BlobNotFound(LookupError):
    """The store holds no blob under this key."""

    def __init__(self, key: BlobKey, location: str) -> None:
        super().__init__(f"no blob {key} in the blob store {location}")
        self.key = key


class BlobRangeError(ValueError):
    """A read asked for bytes outside the blob."""


class BlobStoreError(ConfigError):
    """The store itself cannot be used: its endpoint does not answer, its bucket does not
    exist, the credentials are refused. Names the endpoint and bucket, never a credential.

    A configuration error (exit code 8) because that is almost always the cause: a wrong
    URL, bucket or key, not a fault in the request being served.
    """


@dataclass(frozen=True, slots=True)
class PresignedPut:
    """A PUT anyone holding it may send, once, until ``expires`` (a POSIX time): the blob's
    bytes, with exactly ``headers`` (they are signed, the digest among them, so the
    store refuses other bytes than the blob's and any other length)."""

    url: str
    headers: dict[str, str]
    expires: int


class NoDirectUpload(Exception):
    """The store cannot take this blob from a client directly; ``reason`` says why, for the
    client, which then sends the bytes through the service."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_range(
    key: BlobKey, size: int, start: int | None, end: int | None, location: str
) -> tuple[int, int]:
    """``(start, end)`` with the defaults filled in, or BlobRangeError if outside the blob."""
    lo = 0 if start is None else start
    hi = size if end is None else end
    if lo < 0 or (end is not None and end < lo):
        raise BlobRangeError(f"invalid range [{start}, {end}) for blob {key}")
    if lo > size or hi > size:
        raise BlobRangeError(
            f"range [{lo}, {hi}) is past the end of blob {key} ({size} bytes) "
            f"in the blob store {location}"
        )
    return lo, hi


def check_bounds(start: int | None, end: int | None, key: BlobKey) -> None:
    """What can be refused before asking the store: negative or reversed bounds."""
    if (start is not None and start < 0) or (end is not None and end < (start or 0)):
        raise BlobRangeError(f"invalid range [{start}, {end}) for blob {key}")


class BlobWriter(Protocol):
    """Bytes streamed into a store, hashed on the way; nothing is visible before
    :meth:`commit`, and :meth:`abort` (or leaving ``async with`` without a commit) leaves
    nothing behind."""

    @property
    def size(self) -> int:
        """Bytes written so far."""
        ...

    @property
    def deduplicated(self) -> bool:
        """After commit: True if the store already held these bytes (nothing was added)."""
        ...

    async def write(self, data: Bytes) -> None: ...

    async def commit(self, expect: BlobKey | None = None) -> BlobInfo:
        """Store the bytes under their digest and return their key and size.

        With ``expect`` given here or to ``open_writer``, bytes hashing to anything else
        are discarded and :class:`~ferry.errors.IntegrityError` raised. Given only here (a
        digest that arrived after the bytes), it cannot spare an S3 store its staging
        copy, but nothing that differs from it is ever stored.
        """
        ...

    async def abort(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BlobStore(Protocol):
    """Immutable blobs by digest; see the module docstring for what every backend keeps."""

    @property
    def location(self) -> str:
        """Where the blobs are, for messages: a path, or the bucket and endpoint."""
        ...

    @property
    def digest_first(self) -> bool:
        """True if a writer opened with ``expect`` costs less than one without (S3 then
        skips a staging copy of every byte): worth a hash of the file before sending it."""
        ...

    async def has(self, key: BlobKey, size: int | None = None) -> bool:
        """True if the blob is there (and ``size`` bytes long, when a size is given)."""
        ...

    async def stat(self, key: BlobKey) -> BlobInfo | None: ...

    async def size(self, key: BlobKey) -> int:
        """The blob's size; :class:`BlobNotFound` if it is not there."""
        ...

    def open_writer(
        self, *, expect: BlobKey | None = None, algorithm: str = "sha256"
    ) -> BlobWriter:
        """A writer hashing with ``algorithm`` (``expect``'s, when given).

        ``expect`` is the digest the caller was promised (an index's sha256): the bytes are
        checked against it at commit, and a backend may use it to write straight to the
        final name instead of staging first.
        """
        ...

    async def put_file(self, path: Path, key: BlobKey) -> BlobInfo:
        """Store a local file the caller has already verified to hash to ``key``
        (copied, never moved; not hashed again)."""
        ...

    async def move_file(self, path: Path, key: BlobKey) -> BlobInfo:
        """Like :meth:`put_file`, but the file is the store's afterwards: renamed into
        place when it is on the store's disk, else copied and removed. For big files the
        caller has just written (a task's archive), which need not exist twice."""
        ...

    def read(
        self, key: BlobKey, start: int | None = None, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes ``[start, end)`` in chunks of bounded size.

        An async generator: :class:`BlobNotFound` and :class:`BlobRangeError` are raised at
        the first chunk, and a caller that stops early should close it
        (``contextlib.aclosing``) so the connection or file is released at once.
        """
        ...

    async def delete(self, key: BlobKey) -> None:
        """Remove the blob; nothing happens if it is not there."""
        ...

    def iter_keys(self) -> AsyncIterator[BlobKey]:
        """Every stored blob's key, in no promised order."""
        ...

    def iter_blobs(self) -> AsyncIterator[BlobInfo]:
        """Every stored blob with its size and ``modified`` time (for garbage collection)."""
        ...

    async def clean_staging(self, older_than: float = 3600.0) -> int:
        """Remove what interrupted writers left (staging files, temporary objects,
        unfinished multipart uploads) older than ``older_than`` seconds; return how many.

        The age guard keeps it safe while another process sharing the store is writing.
        """
        ...

    async def presigned_url(self, key: BlobKey, expires: float) -> str | None:
        """A URL anyone may GET the blob from for ``expires`` seconds, or None when the
        store has no such thing (the caller then streams :meth:`read` itself)."""
        ...

    async def presigned_put(self, key: BlobKey, size: int, expires: float) -> PresignedPut:
        """A PUT a client may send the blob's ``size`` bytes with, straight to the store,
        for ``expires`` seconds; the store itself refuses bytes that do not hash to
        ``key``. :class:`NoDirectUpload` when this store cannot promise that (a disk has
        no URL; a bucket that does not check digests must not be written by strangers)."""
        ...

    async def verified(self, key: BlobKey) -> BlobInfo | None:
        """The blob, if it is there and the store checked its bytes against ``key`` when
        they were written (as a :meth:`presigned_put` makes it); None otherwise."""
        ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self:
        """Connect and check the store is usable, so a bad setting fails at start."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
