"""The project's name as the uploaded manifests declare it: package.json ``name``,
pyproject.toml ``[project].name`` or ``[tool.poetry].name``.

Only ever read from a task's own uploads, and a stranger's text: it becomes one short
line of a list (control and format characters out, whitespace collapsed, at most
``MAX_LENGTH`` characters). Best effort: a file that cannot be read gives no name; the
analysis reports what is wrong with it.
"""

from __future__ import annotations

import json
import tomllib
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

from ferry.errors import FerryError
from ferry.manifests.requirements_txt import decode_text, read_bytes

# the column's width (ferry.db.models.NAME_LENGTH)
MAX_LENGTH = 100
_ELLIPSIS = "…"


def clean_name(value: object) -> str | None:
    """``value`` as one safe line of at most MAX_LENGTH characters; None if nothing is left."""
    if not isinstance(value, str):
        return None
    # Control and format characters have no place in a label: a bidi override or a
    # zero-width joiner would make one name look like another.
    spaced = "".join(
        " " if ch.isspace() else ch for ch in value if ch.isspace() or not _invisible(ch)
    )
    text = " ".join(spaced.split())
    if len(text) > MAX_LENGTH:
        text = text[: MAX_LENGTH - len(_ELLIPSIS)].rstrip() + _ELLIPSIS
    return text or None


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch).startswith("C")


def _package_json(path: Path) -> object:
    data = json.loads(read_bytes(path).decode("utf-8-sig"))
    return data.get("name") if isinstance(data, dict) else None


def _pyproject(path: Path) -> object:
    data = tomllib.loads(decode_text(read_bytes(path), path, "TOML file"))
    project = data.get("project")
    if isinstance(project, dict) and isinstance(project.get("name"), str):
        return project["name"]
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    return poetry.get("name") if isinstance(poetry, dict) else None


# In this order: the first file that declares a usable name gives it. npm's file name is
# exact; Python's are matched case-insensitively, as the upload rules match them.
_READERS: tuple[tuple[str, Callable[[Path], object]], ...] = (
    ("package.json", _package_json),
    ("pyproject.toml", _pyproject),
)


def declared_name(manifests: Iterable[Path]) -> str | None:
    """The project's name from ``manifests`` (a task's uploaded files), or None."""
    files = list(manifests)
    for file_name, read in _READERS:
        for path in files:
            same = path.name == file_name or (
                file_name != "package.json" and path.name.lower() == file_name
            )
            if not same:
                continue
            try:
                name = clean_name(read(path))
            except (FerryError, OSError, ValueError, RecursionError):
                continue  # unreadable or invalid: analysis says why, the list shows no name
            if name is not None:
                return name
    return None
