"""Bundles on the server's own disk: the ``import_dir`` the operator names, from which an
admin imports a bundle by its name instead of uploading it (a bundle carried in on a disk
is often larger than a browser wants to send).

What a request may name is a plain file name (no ``/``, no ``..``, no leading dot, ending
in a bundle's format) of a regular file in that directory; a symbolic link is followed
only as far as it stays inside the directory. Anything else is "no such bundle", so the
answer tells nothing of what else the disk holds, and no message ever carries a server
path: the name asked for is all that is repeated back.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ferry.bundle.archive import SUPPORTED_FORMATS, format_from_name
from ferry.errors import ExitCode, FerryError, Hint, UsageError

__all__ = [
    "AvailableBundle",
    "ImportDirOff",
    "ImportDirUnreadable",
    "ImportFileNotFound",
    "ImportNameInvalid",
    "available_bundles",
    "bundle_in",
    "is_bundle_name",
]

# the upload's rule for a bundle's name (routes/imports.py), and no ".." anywhere
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,200}")
# a directory listing is for people to choose from: this many is more than anyone reads
MAX_LISTED = 1000


class ImportDirOff(FerryError):
    """The operator has not set ``import_dir``: only uploads are imported."""

    code = "import-dir-off"
    exit_code = ExitCode.USAGE
    http_status = 403

    def __init__(self) -> None:
        super().__init__(params={}, hint=Hint("import-dir"))


class ImportDirUnreadable(FerryError):
    """``import_dir`` is set but is no directory this service can read (a setting to fix)."""

    code = "import-dir-unreadable"
    exit_code = ExitCode.CONFIG
    http_status = 500

    def __init__(self, reason: str) -> None:
        super().__init__(params={"reason": reason})


class ImportNameInvalid(UsageError):
    code = "import-name-invalid"

    def __init__(self, name: str) -> None:
        super().__init__(
            params={"name": name[:100], "formats": ", ".join("." + f for f in SUPPORTED_FORMATS)}
        )


class ImportFileNotFound(FerryError):
    """No bundle of that name in the directory: missing, not a regular file, or a link
    that leads out of it (told apart only in the server's log)."""

    code = "import-file-not-found"
    exit_code = ExitCode.USAGE
    http_status = 404

    def __init__(self, name: str) -> None:
        super().__init__(params={"name": name[:100]}, hint=Hint("import-available"))


@dataclass(frozen=True, slots=True)
class AvailableBundle:
    name: str
    size: int
    modified_at: datetime


def is_bundle_name(name: str) -> bool:
    """A plain file name a bundle could have: no directory part, no "..", no leading dot,
    a format Ferry reads."""
    return (
        _NAME.fullmatch(name) is not None
        and ".." not in name
        and format_from_name(Path(name)) is not None
    )


def _root(directory: Path | None) -> Path:
    if directory is None:
        raise ImportDirOff()
    try:
        root = directory.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ImportDirUnreadable(_reason(exc)) from None
    if not root.is_dir():
        raise ImportDirUnreadable(os.strerror(20))  # ENOTDIR
    return root


def _reason(exc: BaseException) -> str:
    # an OSError's own words without its file name: the server's path is never told
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _inside(root: Path, name: str) -> tuple[Path, os.stat_result] | None:
    """The file ``name`` in ``root`` with every link resolved, if it is a regular file
    that stays inside ``root``; else None."""
    try:
        found = (root / name).resolve(strict=True)
        status = found.stat()
    except (OSError, RuntimeError):  # missing, a dangling or looping link, unreadable
        return None
    if not found.is_relative_to(root) or found == root or not stat.S_ISREG(status.st_mode):
        return None
    return found, status


def bundle_in(directory: Path | None, name: str) -> Path:
    """The bundle ``name`` asks for in ``directory`` (the ``import_dir`` setting), as a
    resolved path to a regular file inside it that this process can open for reading.

    Raises :class:`ImportDirOff` when the setting is unset, :class:`ImportNameInvalid`
    for anything but a plain bundle name, :class:`ImportFileNotFound` when there is no
    such regular file inside the directory.
    """
    root = _root(directory)
    if not is_bundle_name(name):
        raise ImportNameInvalid(name)
    found = _inside(root, name)
    if found is None:
        raise ImportFileNotFound(name)
    path, _status = found
    # what a link points at must be a bundle's name too: the importer reads the format
    # from it and records it
    if not is_bundle_name(path.name):
        raise ImportFileNotFound(name)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError:
        raise ImportFileNotFound(name) from None
    return path


def available_bundles(directory: Path | None) -> list[AvailableBundle]:
    """The bundles in ``directory`` that :func:`bundle_in` would take, newest first."""
    root = _root(directory)
    found: list[AvailableBundle] = []
    try:
        names = sorted(entry.name for entry in os.scandir(root))
    except OSError as exc:
        raise ImportDirUnreadable(_reason(exc)) from None
    for name in names:
        if not is_bundle_name(name):
            continue
        inside = _inside(root, name)
        if inside is None or not is_bundle_name(inside[0].name):
            continue
        status = inside[1]
        modified = datetime.fromtimestamp(status.st_mtime, tz=UTC)
        found.append(AvailableBundle(name=name, size=status.st_size, modified_at=modified))
    found.sort(key=lambda b: (b.modified_at, b.name), reverse=True)
    return found[:MAX_LISTED]
