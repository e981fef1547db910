"""What the far side's registries hold, written there (``ferry inventory -o have.json``)
and read on the near side (``ferry bundle --exclude-present have.json``) so that a bundle
ships only what is missing.

    {"format": "ferry-inventory/1", "created_at": "...", "created_by": "ferry 0.x",
     "files": [{"ecosystem": "pypi", "name": "app", "version": "1.0",
                "filename": "app-1.0-py3-none-any.whl", "sha256": "...", "size": 123}, ...]}

``filename`` is the file's name in its registry: a Python file's own name, an npm
tarball's path in its package (``@scope/name/-/name-1.0.0.tgz``). A file counts as present
only by name *and* sha256: a file of the same name with other bytes is shipped, and the
import refuses it loudly rather than leaving the far side with the wrong bytes.

The file crosses the gap the other way, so it is read as a stranger's: every field is
checked and a bad one is named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ferry import __version__
from ferry.errors import UsageError

__all__ = ["FORMAT", "Inventory", "inventory_document", "npm_registry_filename"]

FORMAT = "ferry-inventory/1"
_MAX_BYTES = 256 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ECOSYSTEMS = ("pypi", "npm")


def npm_registry_filename(name: str, version: str) -> str:
    """An npm tarball's path in its registry: ``@scope/name/-/name-1.0.0.tgz``."""
    return f"{name}/-/{name.rpartition('/')[2]}-{version}.tgz"


@dataclass(frozen=True)
class Inventory:
    source: str  # the file it was read from, for messages
    held: frozenset[tuple[str, str, str]]  # (ecosystem, registry file name, sha256)
    sizes: dict[tuple[str, str, str], int]

    def holds(self, ecosystem: str, filename: str, sha256: str) -> bool:
        return (ecosystem, filename, sha256) in self.held

    @classmethod
    def load(cls, path: Path) -> Inventory:
        where = str(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UsageError(f"{where}: cannot read it ({exc.strerror})") from None
        if size > _MAX_BYTES:
            raise UsageError(f"{where}: {size} bytes is too large for an inventory")
        try:
            doc = json.loads(path.read_bytes())
        except ValueError as exc:
            raise UsageError(f"{where}: not JSON ({exc})") from None
        except OSError as exc:
            raise UsageError(f"{where}: cannot read it ({exc.strerror})") from None
        return cls.parse(doc, where)

    @classmethod
    def parse(cls, doc: object, where: str) -> Inventory:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise UsageError(
                f"{where}: not an inventory written by ferry inventory (format {FORMAT})"
            )
        files = doc.get("files")
        if not isinstance(files, list):
            raise UsageError(f"{where}: files must be a list")
        held: set[tuple[str, str, str]] = set()
        sizes: dict[tuple[str, str, str], int] = {}
        for i, entry in enumerate(files):
            key, size = _entry(where, i, entry)
            held.add(key)
            sizes[key] = size
        return cls(where, frozenset(held), sizes)


def _entry(where: str, i: int, entry: object) -> tuple[tuple[str, str, str], int]:
    field = f"{where}: files[{i}]"
    if not isinstance(entry, dict):
        raise UsageError(f"{field} is not an object")
    ecosystem, filename, sha256, size = (
        entry.get("ecosystem"),
        entry.get("filename"),
        entry.get("sha256"),
        entry.get("size"),
    )
    if ecosystem not in _ECOSYSTEMS:
        raise UsageError(f"{field}.ecosystem is {ecosystem!r}, not one of {', '.join(_ECOSYSTEMS)}")
    if not isinstance(filename, str) or not filename or len(filename) > 500:
        raise UsageError(f"{field}.filename is not a file name")
    if not isinstance(sha256, str) or _HEX64.fullmatch(sha256) is None:
        raise UsageError(f"{field}.sha256 is not a lowercase hex sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UsageError(f"{field}.size is not a byte count")
    return (str(ecosystem), filename, sha256), size


def inventory_document(files: Iterable[Any]) -> dict[str, object]:
    """The inventory of ``files`` (records with ecosystem, name, version, filename,
    sha256, size: :class:`~ferry.db.artifacts.ArtifactRecord`)."""
    return {
        "format": FORMAT,
        "created_by": f"ferry {__version__}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": [
            {
                "ecosystem": f.ecosystem,
                "name": f.name,
                "version": f.version,
                "filename": f.filename,
                "sha256": f.sha256,
                "size": f.size,
            }
            for f in files
        ],
    }
