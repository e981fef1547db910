"""The order of a project's versions, as each ecosystem's clients see it. Pure.

PyPI: PEP 440 (``packaging``), anything unparsable lowest. npm: semver as npm orders it,
releases above their prereleases, anything unparsable lowest (npm would not publish it).
The latest version is the highest release, or the highest of all when there is none, as
npm's ``dist-tags.latest`` and pip's default choice have it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from packaging.version import InvalidVersion, Version

__all__ = ["latest", "newest_first", "pep440_key", "semver_key"]

_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")


def pep440_key(text: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)


def semver_key(version: str) -> tuple[int, int, int, int, int, tuple[tuple[int, int | str], ...]]:
    found = _SEMVER.fullmatch(version)
    if found is None:
        return (0, 0, 0, 0, 0, ())
    major, minor, patch, pre = int(found[1]), int(found[2]), int(found[3]), found[4]
    if pre is None:
        return (1, major, minor, patch, 1, ())
    parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (1, major, minor, patch, 0, parts)


def _key(ecosystem: str) -> Callable[[str], Any]:
    return semver_key if ecosystem == "npm" else pep440_key


def _is_release(ecosystem: str, version: str) -> bool:
    if ecosystem == "npm":
        return "-" not in version
    key = pep440_key(version)[1]
    return isinstance(key, Version) and not key.is_prerelease


def newest_first(ecosystem: str, versions: Iterable[str]) -> list[str]:
    return sorted(set(versions), key=_key(ecosystem), reverse=True)


def latest(ecosystem: str, versions: Iterable[str]) -> str | None:
    """The highest release, else the highest version; None for no versions."""
    every = set(versions)
    releases = [v for v in every if _is_release(ecosystem, v)] or list(every)
    return max(releases, key=_key(ecosystem)) if releases else None
