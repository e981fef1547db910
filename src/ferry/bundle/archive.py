"""Write a bundle as one archive (zip, tar.gz or tar.zst) and read its listing back.

Every member lands under a single top directory (``root/``), like a release tarball, so
extracting a bundle never scatters files into the current directory.

The archive is built in a temporary file beside ``out`` and renamed into place only after
it is complete and fsynced: a crash or an error never leaves a half-written archive under
the final name, and an older archive at ``out`` survives a failed rewrite untouched.

Memory stays flat whatever the sizes: files are streamed in fixed-size chunks, never read
whole, because bundles routinely carry multi-gigabyte wheels and model files.

Output is reproducible: generated content gets a fixed timestamp, owners are anonymised,
and the gzip header carries no wall-clock time, so the same inputs give the same bytes.
"""

from __future__ import annotations

import calendar
import contextlib
import gzip
import io
import os
import secrets
import stat
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, Literal, TypeAlias, get_args

import zstandard

from ferry.errors import BundleError, Hint
from ferry.fsutil import fsync_dir

__all__ = [
    "SUPPORTED_FORMATS",
    "ArchiveEntry",
    "ArchiveFormat",
    "format_from_name",
    "iter_archive_members",
    "open_tar_stream",
    "root_name_for",
    "write_archive",
]

ArchiveFormat: TypeAlias = Literal["zip", "tar.gz", "tar.zst"]
SUPPORTED_FORMATS: tuple[ArchiveFormat, ...] = get_args(ArchiveFormat)

CHUNK_SIZE = 1 << 20

# 2000-01-01T00:00:00Z: far enough from the DOS epoch that an extractor shifting zip times
# by its local timezone can never land before 1980, which some tools reject.
FIXED_MTIME = 946_684_800
# Zip (DOS) timestamps cannot express anything before 1980-01-01; tar gets the same clamp
# so the two formats agree on what a member's time is.
MIN_MTIME = 315_532_800
# The last DOS timestamp (two-second resolution); later mtimes would make ZipInfo raise.
_MAX_ZIP_MTIME = calendar.timegm((2107, 12, 31, 23, 59, 58, 0, 0, 0))

# Deflating these again costs CPU for nothing: their bytes are already compressed.
_STORED_SUFFIXES = (
    ".whl",
    ".zip",
    ".tgz",
    ".tar.gz",
    ".gz",
    ".zst",
    ".tzst",
    ".tar.zst",
    ".bz2",
    ".xz",
)

_NAME_SUFFIXES: tuple[tuple[str, ArchiveFormat], ...] = (
    (".zip", "zip"),
    (".tar.gz", "tar.gz"),
    (".tgz", "tar.gz"),
    (".tar.zst", "tar.zst"),
    (".tzst", "tar.zst"),
)

_ZSTD_LEVEL = 3
# A bundle is mostly wheels and tarballs that are already compressed: deflating them again
# gains well under a percent at any level, yet zlib crawls through such data (50 MB/s at
# level 1 here, 650 MB/s stored). Level 0 keeps the .tar.gz every tool can open at the
# speed of the data (23 MB npm bundle: 0.6 s -> under 0.1 s, 0.6% larger); tar.zst is the
# format for bundles that are mostly text.
_GZIP_LEVEL = 0


def _check_relative_posix(value: str, what: str) -> None:
    """Reject anything that could escape the bundle root or mean different things per OS."""
    problem: str | None = None
    if not value:
        problem = "is empty"
    elif "\\" in value:
        problem = "contains a backslash (use '/' as the separator)"
    elif "\x00" in value:
        problem = "contains a NUL byte"
    elif value.startswith("/") or PureWindowsPath(value).drive:
        problem = "is absolute"
    elif any(part in ("", ".", "..") for part in value.split("/")):
        problem = "has an empty, '.' or '..' component"
    if problem is not None:
        raise BundleError(
            f"invalid {what} {value!r}: {problem}",
            hint=Hint("archive-paths"),
        )


@dataclass(frozen=True)
class ArchiveEntry:
    """One file of the bundle.

    ``arcname`` is relative to the bundle root; ``source`` is either a file streamed from
    disk or small generated content (manifests, scripts) held in memory.
    """

    arcname: str
    source: Path | bytes
    mode: int = 0o644

    def __post_init__(self) -> None:
        _check_relative_posix(self.arcname, "archive path")
        if not 0 <= self.mode <= 0o777:
            # setuid/setgid/sticky bits have no business in a portable bundle.
            raise BundleError(
                f"invalid mode {self.mode:#o} for {self.arcname}: only permission bits "
                "(0o000-0o777) are allowed"
            )


def root_name_for(out: Path) -> str:
    """The top directory inside an archive: the output's name without its suffix."""
    name = out.name
    for suffix, _ in _NAME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or "ferry-bundle"
    if not name:
        raise BundleError(f"output path {out} has no file name")
    return name


def format_from_name(path: Path) -> ArchiveFormat | None:
    """The archive format a file name asks for, or ``None`` if it names none of them."""
    name = path.name.lower()
    for suffix, fmt in _NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return fmt
    return None


def _unsupported(fmt: object) -> BundleError:
    return BundleError(
        f"unsupported archive format {fmt!r}; supported: {', '.join(SUPPORTED_FORMATS)}",
        hint=Hint("archive-format"),
    )


# -- sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Opened:
    stream: BinaryIO
    size: int
    mtime: int
    label: str


@contextlib.contextmanager
def _open_source(entry: ArchiveEntry) -> Iterator[_Opened]:
    if isinstance(entry.source, bytes):
        yield _Opened(io.BytesIO(entry.source), len(entry.source), FIXED_MTIME, entry.arcname)
        return
    path = entry.source
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BundleError(
            f"cannot read {path} (for {entry.arcname}): {exc.strerror or exc}",
            context="writing the bundle archive",
        ) from exc
    with handle:
        # fstat the open handle rather than the path, so size and content come from the
        # same file even if the path is replaced meanwhile.
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise BundleError(f"cannot bundle {path} (for {entry.arcname}): not a regular file")
        yield _Opened(handle, st.st_size, max(int(st.st_mtime), MIN_MTIME), str(path))


def _copy_exact(src: _Opened, write: Callable[[bytes], object]) -> None:
    """Copy exactly ``src.size`` bytes: the size is already in a header, so a file that
    changed under us must fail loudly instead of producing a corrupt member."""
    remaining = src.size
    while remaining:
        chunk = src.stream.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            raise BundleError(f"{src.label} shrank while it was being bundled")
        write(chunk)
        remaining -= len(chunk)
    _check_fully_read(src)


def _check_fully_read(src: _Opened) -> None:
    if src.stream.read(1):
        raise BundleError(f"{src.label} grew while it was being bundled")


def _named(entries: Iterable[ArchiveEntry], root: str) -> Iterator[tuple[ArchiveEntry, str]]:
    """Entries with their full member names, rejecting collisions before they are written."""
    files: set[str] = set()
    dirs: set[str] = set()
    for entry in entries:
        name = entry.arcname
        if name in files:
            raise BundleError(f"duplicate path in bundle: {name}")
        if name in dirs:
            raise BundleError(f"path in bundle is both a file and a directory: {name}")
        parents = [str(p) for p in PurePosixPath(name).parents][:-1]
        for parent in parents:
            if parent in files:
                raise BundleError(
                    f"path in bundle is both a file and a directory: {parent} (needed by {name})"
                )
        files.add(name)
        dirs.update(parents)
        yield entry, f"{root}/{name}"


# -- writers ---------------------------------------------------------------------------


def _zip_date_time(mtime: int) -> tuple[int, int, int, int, int, int]:
    # UTC, not local time, so the same input gives the same archive on every machine.
    t = time.gmtime(min(max(mtime, MIN_MTIME), _MAX_ZIP_MTIME))
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _is_precompressed(name: str) -> bool:
    return name.lower().endswith(_STORED_SUFFIXES)


def _write_zip(raw: BinaryIO, members: Iterator[tuple[ArchiveEntry, str]]) -> None:
    # allowZip64 covers archives whose total size or member offsets pass 4 GiB.
    with zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
        for entry, name in members:
            with _open_source(entry) as src:
                info = zipfile.ZipInfo(name, date_time=_zip_date_time(src.mtime))
                # Unix "made by" so that unzip honours the permission bits below
                # (install.sh must come out executable).
                info.create_system = 3
                info.external_attr = (stat.S_IFREG | entry.mode) << 16
                info.compress_type = (
                    zipfile.ZIP_STORED if _is_precompressed(name) else zipfile.ZIP_DEFLATED
                )
                # The real size up front lets zipfile choose a ZIP64 local header before
                # streaming; it cannot widen the header afterwards. zipfile also switches
                # to ZIP64 itself from 95% of the limit, to leave room for deflate growth.
                info.file_size = src.size
                with zf.open(info, "w", force_zip64=src.size >= zipfile.ZIP64_LIMIT) as dest:
                    _copy_exact(src, dest.write)


def _tar_info(name: str, entry: ArchiveEntry, src: _Opened) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = src.size
    info.mtime = src.mtime
    info.mode = entry.mode
    info.type = tarfile.REGTYPE
    # The build machine's accounts mean nothing on the target and break reproducibility.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_tar_stream(sink: BinaryIO, members: Iterator[tuple[ArchiveEntry, str]]) -> None:
    # tarfile's stream buffer re-slices its pending bytes per `bufsize` block, so the copy
    # chunk must not be much larger than bufsize or each write turns quadratic.
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK_SIZE) as tf:
        tf.copybufsize = CHUNK_SIZE  # type: ignore[attr-defined]  # real, missing in typeshed
        for entry, name in members:
            with _open_source(entry) as src:
                try:
                    tf.addfile(_tar_info(name, entry, src), src.stream)
                except OSError as exc:
                    # tarfile reports a file that shrank mid-copy as a bare OSError.
                    raise BundleError(f"cannot add {src.label} as {name}: {exc}") from exc
                _check_fully_read(src)


def _write_tar_gz(raw: BinaryIO, members: Iterator[tuple[ArchiveEntry, str]]) -> None:
    # Not tarfile's own "w|gz": that stamps the current time into the gzip header and
    # hard-codes level 9. A GzipFile with a fixed mtime and no file name keeps the output
    # reproducible; the tar layer is still tarfile in stream mode.
    with gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, compresslevel=_GZIP_LEVEL, mtime=FIXED_MTIME
    ) as gz:
        _write_tar_stream(gz, members)  # type: ignore[arg-type]  # GzipFile is binary IO


def _write_tar_zst(raw: BinaryIO, members: Iterator[tuple[ArchiveEntry, str]]) -> None:
    # threads=-1 uses every core; zstd's multi-threaded output does not depend on the
    # worker count, so the archive stays reproducible across machines.
    cctx = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, threads=-1, write_checksum=True)
    with cctx.stream_writer(raw, closefd=False) as zst:
        _write_tar_stream(zst, members)


_WRITERS: dict[str, Callable[[BinaryIO, Iterator[tuple[ArchiveEntry, str]]], None]] = {
    "zip": _write_zip,
    "tar.gz": _write_tar_gz,
    "tar.zst": _write_tar_zst,
}


def _create_temp(out: Path) -> tuple[Path, BinaryIO]:
    """An exclusive temp file beside ``out``, so the final rename stays on one filesystem.

    os.open with 0o666 (not mkstemp's 0o600) lets the umask decide the archive's final
    permissions, as for any other file the user creates.
    """
    for _ in range(100):
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise BundleError(
                f"cannot create {out}: {exc.strerror or exc}",
                hint=Hint("archive-output"),
            ) from exc
        return tmp, os.fdopen(fd, "w+b")
    raise BundleError(f"cannot create a temporary file beside {out}")


def write_archive(
    out: Path, fmt: ArchiveFormat, entries: Iterable[ArchiveEntry], *, root: str
) -> int:
    """Write ``entries`` under ``root/`` into a ``fmt`` archive at ``out``.

    Returns the archive's size in bytes. On any failure nothing is left at ``out`` that was
    not there before, and the temporary file is removed.
    """
    writer = _WRITERS.get(fmt)
    if writer is None:
        raise _unsupported(fmt)
    _check_relative_posix(root, "bundle root")
    if "/" in root:
        raise BundleError(f"invalid bundle root {root!r}: must be a single directory name")
    out = Path(out)

    tmp, raw = _create_temp(out)
    try:
        with raw:
            writer(raw, _named(entries, root))
            raw.flush()
            os.fsync(raw.fileno())
            size = os.fstat(raw.fileno()).st_size
        tmp.replace(out)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError | zstandard.ZstdError | zipfile.LargeZipFile):
            raise BundleError(
                f"cannot write {out}: {exc}", context="writing the bundle archive"
            ) from exc
        raise
    fsync_dir(out.parent)
    return size


# -- reading back ----------------------------------------------------------------------


@contextlib.contextmanager
def open_tar_stream(path: Path, fmt: ArchiveFormat) -> Iterator[tarfile.TarFile]:
    """A compressed tar bundle opened to be read front to back, once (``tar.gz``,
    ``tar.zst``): memory flat whatever its size."""
    with path.open("rb") as raw:
        stream: BinaryIO
        if fmt == "tar.gz":
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        else:
            stream = zstandard.ZstdDecompressor().stream_reader(
                raw, read_across_frames=True, closefd=False
            )
        with stream, tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK_SIZE) as tf:
            yield tf


def iter_archive_members(path: Path) -> Iterator[tuple[str, int]]:
    """Yield ``(name, size)`` for every non-directory member, names as stored (``root/...``).

    The format comes from the file name (see ``format_from_name``). Compressed tars are
    read as a stream, so memory stays flat but the whole archive is decompressed once.
    """
    fmt = format_from_name(path)
    if fmt is None:
        raise BundleError(
            f"cannot tell the archive format of {path}; supported: {', '.join(SUPPORTED_FORMATS)}"
        )
    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if not info.is_dir():
                        yield info.filename, info.file_size
            return
        with open_tar_stream(path, fmt) as tf:
            for member in tf:
                if not member.isdir():
                    yield member.name, member.size
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zstandard.ZstdError) as exc:
        raise BundleError(f"cannot read archive {path}: {exc}") from exc
