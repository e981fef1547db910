"""Python manifests in, one PythonInput out. A new format is a module plus one PARSERS entry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from packaging.utils import canonicalize_name

from ferry.errors import Hint, ManifestError, UnknownManifestError
from ferry.manifests import pipfile, pyproject, requirements_txt
from ferry.manifests.model import (
    TRUSTED,
    InputRules,
    LockedPackage,
    Origin,
    PyRequirement,
    PythonInput,
    Selection,
)

__all__ = [
    "PARSERS",
    "TRUSTED",
    "InputRules",
    "LockedPackage",
    "Origin",
    "PyRequirement",
    "PythonInput",
    "Selection",
    "is_python_manifest",
    "parse_manifest",
    "parse_manifests",
]

Parser = Callable[[Path, Selection, InputRules], PythonInput]
RUNTIME_ONLY = Selection()
# named, with the Python patterns, to someone who gave neither
_NPM_NAMES = ("package.json", "package-lock.json", "npm-shrinkwrap.json", ".npmrc")

# File-name pattern (matched case-insensitively) -> parser; the first match wins, so the
# more specific patterns come first.
PARSERS: dict[str, Parser] = {
    "Pipfile.lock": pipfile.parse_lock,
    "Pipfile": pipfile.parse_pipfile,
    "pyproject.toml": pyproject.parse,
    "*constraints*.txt": requirements_txt.parse_constraints,
    "*requirements*.txt": requirements_txt.parse,
    "*.in": requirements_txt.parse,
}


def _parser_for(name: str) -> Parser | None:
    lowered = name.lower()
    if lowered == "manifest.in":  # setuptools' sdist file list, not pip-tools input
        return None
    return next((p for pat, p in PARSERS.items() if fnmatchcase(lowered, pat.lower())), None)


def is_python_manifest(name: str) -> bool:
    return _parser_for(Path(name).name) is not None


def parse_manifest(
    path: Path, selection: Selection = RUNTIME_ONLY, rules: InputRules = TRUSTED
) -> PythonInput:
    if path.is_dir():
        raise ManifestError(path, "is a directory", hint=Hint("name-files-in-directory"))
    if not path.exists():
        raise ManifestError(path, "file not found")
    parser = _parser_for(path.name)
    if parser is None:
        raise UnknownManifestError(
            path,
            "is not a Python manifest Ferry knows",
            hint=Hint("accepted-names", names=", ".join(PARSERS)),
        )
    return parser(path, selection, rules)


def split_manifests(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(Python manifests, npm manifests); anything else is an error naming the file."""
    from ferry.manifests.npm import is_npm_manifest

    python: list[Path] = []
    npm: list[Path] = []
    for path in paths:
        if is_npm_manifest(path.name):
            npm.append(path)
        elif _parser_for(path.name) is not None:
            python.append(path)
        elif path.is_dir():
            raise ManifestError(path, "is a directory", hint=Hint("name-files-in-directory"))
        else:
            raise UnknownManifestError(
                path,
                "is neither a Python nor an npm manifest Ferry knows",
                hint=Hint("accepted-names", names=", ".join([*PARSERS, *_NPM_NAMES])),
            )
    return python, npm


def parse_manifests(
    paths: Sequence[Path],
    selection: Selection = RUNTIME_ONLY,
    *,
    elsewhere: frozenset[str] = frozenset(),
    rules: InputRules = TRUSTED,
) -> PythonInput:
    """Parse and merge. A group asked for must exist in some file, or in ``elsewhere``
    (the groups the same bundle's npm project answers, e.g. ``dev``)."""
    merged = PythonInput()
    for path in paths:
        merged.merge(parse_manifest(path, selection, rules))
    if paths and not selection.all_groups:
        known = set(merged.groups) | {canonicalize_name(g) for g in elsewhere}
        missing = sorted({canonicalize_name(g) for g in selection.groups} - known)
        if missing:
            available = ", ".join(sorted(merged.groups)) or "none"
            raise ManifestError(
                paths[-1],
                f"no extra or dependency group named {', '.join(missing)} in the given files"
                f" (available: {available})",
                hint=Hint("declared-groups"),
            )
    return merged
