"""What a model id, a version and a file path may be: names that come from strangers and
end up in URLs, database rows and, on every node, file system paths.

A model id is the Hub's ``name`` or ``org/name``: letters, digits, ``-``, ``_``, ``.``,
not starting or ending with ``-`` or ``.``, no ``--`` or ``..``, at most 96 characters a
part. A version is a name the Hub would accept as a branch (``1.0.0``, ``main``, ``v2-int8``),
never 40 hex digits (those are commits). A file path is relative, ``/``-separated, with no
empty, ``.`` or ``..`` part, no backslash, no control character, nothing under ``.git``.
"""

from __future__ import annotations

import re

from ferry.errors import UsageError

__all__ = ["ModelNameError", "check_model_id", "check_path", "check_version", "is_commit"]

_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?\Z")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}\Z")
_COMMIT = re.compile(r"[0-9a-f]{40}\Z")
PATH_MAX = 1024


class ModelNameError(UsageError):
    """A model id, version or path refused: names which, and why."""

    code = "model-name-invalid"
    http_status = 400


def check_model_id(value: str) -> str:
    parts = value.split("/")
    if len(parts) > 2 or not all(_PART.match(p) for p in parts):
        raise ModelNameError(
            f"model id {value[:120]!r}: 'name' or 'org/name', each part letters, digits, "
            f"- _ . (not first or last), at most 96 characters"
        )
    if any("--" in p or ".." in p for p in parts):
        raise ModelNameError(f"model id {value[:120]!r}: no '--' or '..' in it")
    return value


def is_commit(value: str) -> bool:
    return _COMMIT.match(value) is not None


def check_version(value: str) -> str:
    if not _VERSION.match(value) or ".." in value:
        raise ModelNameError(
            f"version {value[:80]!r}: 1-64 letters, digits or . _ + -, starting with a "
            f"letter or digit, without '..'"
        )
    if is_commit(value):
        raise ModelNameError(f"version {value}: 40 hex digits name a commit, not a version")
    return value


def check_path(value: str) -> str:
    if not value or len(value.encode()) > PATH_MAX:
        raise ModelNameError(f"path {value[:120]!r}: 1 to {PATH_MAX} bytes")
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ModelNameError(f"path {value[:120]!r}: no backslash or control character")
    parts = value.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ModelNameError(f"path {value[:120]!r}: relative, without empty, . or .. parts")
    if parts[0] == ".git":
        raise ModelNameError(f"path {value[:120]!r}: nothing under .git")
    return value
