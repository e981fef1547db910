"""package.json and package-lock.json / npm-shrinkwrap.json: pure parsing.

A lock is used as is (lockfileVersion 2 or 3, the ``packages`` map npm 7+ writes); version 1
has no ``packages`` map and is refused with the command that upgrades it. Workspaces are
refused by name: their member packages live in folders a manifest upload does not carry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import Hint, ManifestError, UnknownManifestError
from ferry.manifests.npmrc import ProjectNpmrc, is_npmrc, parse_npmrc

PACKAGE_JSON = "package.json"
LOCK_NAMES = ("npm-shrinkwrap.json", "package-lock.json")  # npm prefers the shrinkwrap
DEPENDENCY_FIELDS = (
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
)


def is_npm_manifest(name: str) -> bool:
    return name == PACKAGE_JSON or name in LOCK_NAMES or is_npmrc(name)


@dataclass
class NpmInput:
    """One Node project: its package.json and, when given, the lock to use as is."""

    package_json: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    lock_path: Path | None = None
    lock: dict[str, Any] | None = None
    npmrc: ProjectNpmrc | None = None  # the project's .npmrc: install settings, registries


def _load_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(path, "file not found") from None
    except IsADirectoryError:
        raise ManifestError(path, "is a directory") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(path, f"is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            path, f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno
        ) from None


def line_of(path: Path, key: str) -> int | None:
    """Best effort: the first line where ``"key"`` appears, for errors about a value."""
    try:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if f'"{key}"' in line:
                return number
    except OSError:
        return None
    return None


def parse_package_json(path: Path) -> dict[str, Any]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise ManifestError(path, "must be a JSON object", line=1)
    for key in DEPENDENCY_FIELDS:
        deps = data.get(key)
        if deps is None:
            continue
        if not isinstance(deps, dict):
            raise ManifestError(
                path, f"'{key}' must be an object of name: version range", line=line_of(path, key)
            )
        for name, spec in deps.items():
            if not isinstance(spec, str):
                raise ManifestError(
                    path,
                    f"'{key}.{name}' must be a version range string, not {spec!r}",
                    line=line_of(path, name),
                )
    if data.get("workspaces"):
        raise ManifestError(
            path,
            "uses npm workspaces, which Ferry cannot resolve from manifests alone",
            line=line_of(path, "workspaces"),
            hint=Hint("npm-workspaces"),
        )
    return data


def parse_lock(path: Path) -> dict[str, Any]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise ManifestError(path, "must be a JSON object", line=1)
    version = data.get("lockfileVersion")
    if version == 1 or (version is None and "dependencies" in data):
        raise ManifestError(
            path,
            "is lockfileVersion 1 (npm 6 and older), which has no 'packages' map",
            line=line_of(path, "lockfileVersion"),
            hint=Hint("npm-lock-v1"),
        )
    if version not in (2, 3):
        raise ManifestError(
            path,
            f"has unsupported lockfileVersion {version!r} (2 and 3 are supported)",
            line=line_of(path, "lockfileVersion"),
        )
    packages = data.get("packages")
    if not isinstance(packages, dict) or "" not in packages:
        raise ManifestError(
            path, "has no 'packages' map with a root entry", line=line_of(path, "packages")
        )
    for key, entry in packages.items():
        if not isinstance(entry, dict):
            raise ManifestError(
                path,
                f"packages[{key!r}] must be an object",
                line=line_of(path, key) if key else None,
            )
        if key:
            _check_entry(path, key, entry)
        if entry.get("link") or (
            key and not key.startswith("node_modules/") and "/node_modules/" not in key
        ):
            raise ManifestError(
                path,
                f"packages[{key!r}] is a workspace or linked folder, which cannot be carried",
                line=line_of(path, key),
                hint=Hint("npm-links"),
            )
    if packages[""].get("workspaces"):
        raise ManifestError(
            path,
            "uses npm workspaces, which Ferry cannot bundle",
            line=line_of(path, "workspaces"),
        )
    return data


_STRINGS = ("version", "resolved", "integrity", "name", "deprecated")
_FLAGS = ("dev", "optional", "devOptional", "peer", "inBundle", "hasInstallScript", "link")
_MAPS = ("dependencies", "optionalDependencies", "peerDependencies", "devDependencies", "bin")
_LISTS = ("os", "cpu", "libc")


def _check_entry(path: Path, key: str, entry: dict[str, Any]) -> None:
    """Every field Ferry reads has the type npm writes; a stranger's lock with
    ``"resolved": 123`` or a truncated integrity is refused here, naming the field, instead
    of failing somewhere later."""
    from ferry.ecosystems.npm.model import Integrity

    def bad(key_name: str, what: str) -> ManifestError:
        return ManifestError(path, f"packages[{key!r}].{key_name} {what}", line=line_of(path, key))

    for key_name in _STRINGS:
        if key_name in entry and not isinstance(entry[key_name], str):
            raise bad(key_name, "must be a string")
    for key_name in _FLAGS:
        if key_name in entry and not isinstance(entry[key_name], bool):
            raise bad(key_name, "must be true or false")
    for key_name in _MAPS:
        value = entry.get(key_name)
        if value is not None and (
            not isinstance(value, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise bad(key_name, "must map names to strings")
    for key_name in _LISTS:
        value = entry.get(key_name)
        if value is not None and not (
            isinstance(value, str)
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            raise bad(key_name, "must be a string or a list of strings")
    engines = entry.get("engines")
    if engines is not None and not isinstance(engines, dict | list):
        raise bad("engines", "must be an object")
    if isinstance(engines, dict) and not all(isinstance(v, str) for v in engines.values()):
        raise bad("engines", "must map engines to version ranges")
    integrity = entry.get("integrity")
    if isinstance(integrity, str) and Integrity.parse(integrity) is None:
        raise bad("integrity", "is not a sha512, sha384, sha256 or sha1 hash of the right size")


def parse_npm_manifests(paths: list[Path]) -> NpmInput:
    """At most one package.json and one lock (of one project)."""
    result = NpmInput()
    for path in paths:
        if path.name == PACKAGE_JSON:
            if result.package_json is not None:
                raise ManifestError(
                    path,
                    f"a second package.json (the first was "
                    f"{result.package_json}); bundle one Node project at a time",
                )
            result.package_json = path
            result.manifest = parse_package_json(path)
        elif path.name in LOCK_NAMES:
            if result.lock_path is not None:
                raise ManifestError(path, f"a second lock file (the first was {result.lock_path})")
            result.lock_path = path
            result.lock = parse_lock(path)
        elif is_npmrc(path.name):
            if result.npmrc is not None:
                raise ManifestError(path, f"a second .npmrc (the first was {result.npmrc.path})")
            result.npmrc = parse_npmrc(path)
        else:
            raise UnknownManifestError(
                path,
                "is not an npm manifest",
                hint=Hint("npm-names"),
            )
    if result.npmrc is not None and result.package_json is None and result.lock is None:
        raise ManifestError(
            result.npmrc.path,
            "an .npmrc without the project's package.json or lock",
            hint=Hint("npmrc-alone"),
        )
    if result.lock is not None and result.package_json is None:
        # npm ci needs a package.json; the lock's root entry records the same fields
        root = dict(result.lock["packages"][""])
        root.setdefault("name", result.lock.get("name", "project"))
        root.setdefault("version", result.lock.get("version", "0.0.0"))
        result.manifest = {
            k: v
            for k, v in root.items()
            if k in ("name", "version", *DEPENDENCY_FIELDS, "engines", "peerDependenciesMeta")
        }
    return result
