"""Pipenv's Pipfile (TOML, what the user asked for) and Pipfile.lock (JSON, used as is)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ferry.errors import ManifestError, UnsupportedRequirementError
from ferry.manifests.model import (
    TRUSTED,
    InputRules,
    LockedPackage,
    Origin,
    PyRequirement,
    PythonInput,
    Selection,
)
from ferry.manifests.requirements_txt import (
    CARRY_HINT,
    and_markers,
    assemble,
    build_requirement,
    decode_text,
    read_bytes,
)
from ferry.manifests.tomldoc import Key, TomlDoc, keypath, kind

# Tables that are settings, not package categories.
_SETTINGS = ("source", "requires", "pipenv", "scripts")
# Keys pipenv turns into markers, as in `pywinusb = {version = "*", sys_platform = "== 'win32'"}`.
_MARKER_KEYS = (
    "os_name",
    "sys_platform",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_version",
    "python_full_version",
    "implementation_name",
    "implementation_version",
)
_MARKER_OP = re.compile(r"^\s*(===|==|!=|~=|<=|>=|<|>|not in\s|in\s)")
_HASH = re.compile(r"^(sha256|sha384|sha512):[0-9a-fA-F]+$")
_UNCARRIABLE = ("git", "hg", "svn", "bzr", "path", "editable")


def _category_group(category: str) -> str | None:
    if category in ("packages", "default"):
        return None
    return "dev" if category in ("dev-packages", "develop") else canonicalize_name(category)


def _python_pin(version: str, *, full: bool) -> str:
    return f"=={version}" if full else f"=={version}.*"


def parse_pipfile(path: Path, selection: Selection, rules: InputRules = TRUSTED) -> PythonInput:
    doc = TomlDoc.load(path, "Pipfile", local_paths=not rules.confined)
    out = PythonInput(files=[path])
    sources = _pipfile_sources(doc, out)
    requires = doc.table(["requires"], doc.data.get("requires"))
    for key, full in (("python_full_version", True), ("python_version", False)):
        if key in requires and out.requires_python is None:
            out.requires_python = _python_pin(
                doc.string(["requires", key], requires[key]), full=full
            )
    settings = doc.table(["pipenv"], doc.data.get("pipenv"))
    out.allow_prereleases = settings.get("allow_prereleases") is True
    for category, table in doc.data.items():
        if category in _SETTINGS:
            continue
        packages = doc.table([category], table)
        group = _category_group(category)
        if group is not None:
            if group not in out.groups:
                out.groups.append(group)
            if not selection.wants(group):
                continue
        for name, value in packages.items():
            req = _pipfile_requirement(doc, [category, name], name, value, sources, out)
            out.requirements.append(PyRequirement(req.requirement, req.origin, group=group))
    return out


def _pipfile_sources(doc: TomlDoc, out: PythonInput) -> set[str]:
    names: set[str] = set()
    items = doc.array(["source"], doc.data.get("source"))
    for i, item in enumerate(items):
        source = doc.table(["source", i], item)
        line = doc.item_line(["source"], items, i)
        url = doc.string(["source", i, "url"], source.get("url"), line=line)
        out.url_origins.setdefault(url, Origin(doc.path, line))
        if isinstance(source.get("name"), str):
            names.add(source["name"])
        if out.index_url is None:
            out.index_url = url
        elif url not in out.extra_index_urls:
            out.extra_index_urls.append(url)
    return names


def _pipfile_requirement(
    doc: TomlDoc, keys: list[Key], name: str, value: Any, sources: set[str], out: PythonInput
) -> PyRequirement:
    line = doc.line_of(keys)
    if isinstance(value, str):
        value = {"version": value}
    if not isinstance(value, dict):
        raise doc.error(
            keys, f"{keypath(keys)} must be a version string or a table, got {kind(value)}"
        )
    for key in _UNCARRIABLE:
        if key in value and value[key] is not False:
            what = "editable" if key == "editable" else f"{key} dependency {value[key]!r}"
            raise UnsupportedRequirementError(
                doc.path, f"{name}: {what} cannot be carried", line=line, hint=CARRY_HINT
            )
    if "index" in value and value["index"] not in sources:
        raise doc.error(
            keys,
            f"{keypath(keys)} uses index {value['index']!r}, which no [[source]] names",
            line=line,
        )
    if "index" in value:
        out.notes.append(
            f"{doc.path}:{line}: {name}: index {value['index']!r} is not applied per package"
        )
    extras = doc.strings([*keys, "extras"], value.get("extras"))
    markers = [
        doc.string([*keys, "markers"], value["markers"], line=line) if "markers" in value else None
    ]
    for key in _MARKER_KEYS:
        if key in value:
            condition = doc.string([*keys, key], value[key], line=line)
            markers.append(
                f"{key} {condition}" if _MARKER_OP.match(condition) else f'{key} == "{condition}"'
            )
    marker = and_markers(*markers)
    if "file" in value:
        url = doc.string([*keys, "file"], value["file"], line=line)
        text = assemble(name, extras=extras, url=url, marker=marker)
    else:
        version = doc.string([*keys, "version"], value.get("version", "*"), line=line)
        text = assemble(
            name,
            extras=extras,
            specifier=_pipenv_specifier(doc, keys, version, line),
            marker=marker,
        )
    requirement = build_requirement(text, doc.path, line, local_paths=doc.local_paths)
    return PyRequirement(requirement, Origin(doc.path, line))


def _pipenv_specifier(doc: TomlDoc, keys: list[Key], version: str, line: int | None) -> str:
    version = version.strip()
    if version in ("", "*"):
        return ""
    if version[0].isdigit():
        version = f"=={version}"
    try:
        SpecifierSet(version)
    except InvalidSpecifier:
        raise doc.error(
            keys, f"{keypath(keys)}: {version!r} is not a valid version specifier", line=line
        ) from None
    return version


@dataclass(frozen=True)
class _Json:
    path: Path
    text: str

    def line_of(self, section: str, name: str | None = None) -> int | None:
        """Best effort: the line of `"section": {` and then of `"name":` after it."""
        lines = self.text.splitlines()
        found = None
        for key in (section, name):
            if key is None:
                break
            pattern = re.compile(rf"\"{re.escape(key)}\"\s*:")
            start = found or 0
            hit = next((i for i in range(start, len(lines)) if pattern.search(lines[i])), None)
            if hit is None:
                break
            found = hit
        return None if found is None else found + 1

    def error(self, reason: str, section: str, name: str | None = None) -> ManifestError:
        return ManifestError(self.path, reason, line=self.line_of(section, name))


def parse_lock(path: Path, selection: Selection, rules: InputRules = TRUSTED) -> PythonInput:
    text = decode_text(read_bytes(path), path, "Pipfile.lock")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            path, f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno
        ) from None
    doc = _Json(path, text)
    if not isinstance(data, dict):
        raise ManifestError(path, f"must be a JSON object, got {type(data).__name__}", line=1)
    out = PythonInput(files=[path])
    meta = _object(doc, data.get("_meta", {}), "_meta")
    sources = _lock_sources(doc, meta, out)
    requires = _object(doc, meta.get("requires", {}), "requires")
    for key, full in (("python_full_version", True), ("python_version", False)):
        if isinstance(requires.get(key), str) and out.requires_python is None:
            out.requires_python = _python_pin(requires[key], full=full)
    for section, entries in data.items():
        if section == "_meta":
            continue
        group = _category_group(section)
        if group is not None:
            if group not in out.groups:
                out.groups.append(group)
            if not selection.wants(group):
                continue
        for name, entry in _object(doc, entries, section).items():
            out.locked.append(_locked(doc, section, name, entry, sources, group))
    return out


def _object(doc: _Json, value: Any, section: str, name: str | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        where = f"{section}.{name}" if name else section
        raise doc.error(f"{where} must be a JSON object, got {type(value).__name__}", section, name)
    return value


def _lock_sources(doc: _Json, meta: dict[str, Any], out: PythonInput) -> dict[str, str]:
    sources: dict[str, str] = {}
    items = meta.get("sources", [])
    if not isinstance(items, list):
        raise doc.error("_meta.sources must be a list", "sources")
    for item in items:
        source = _object(doc, item, "sources")
        url = source.get("url")
        if not isinstance(url, str):
            raise doc.error("every _meta.sources entry needs a url", "sources")
        sources[str(source.get("name", url))] = url
        out.url_origins.setdefault(url, Origin(doc.path, doc.line_of("sources")))
        if out.index_url is None:
            out.index_url = url
        elif url not in out.extra_index_urls:
            out.extra_index_urls.append(url)
    return sources


def _locked(
    doc: _Json, section: str, name: str, entry: Any, sources: dict[str, str], group: str | None
) -> LockedPackage:
    entry = _object(doc, entry, section, name)
    line = doc.line_of(section, name)

    def fail(reason: str) -> ManifestError:
        return ManifestError(doc.path, f"{section}.{name}: {reason}", line=line)

    for key in _UNCARRIABLE:
        if key in entry and entry[key] is not False:
            raise UnsupportedRequirementError(
                doc.path,
                f"{section}.{name}: {key} entry cannot be carried",
                line=line,
                hint=CARRY_HINT,
            )
    version = entry.get("version")
    if not isinstance(version, str) or not version.startswith("=="):
        raise fail(f"version must be an exact pin like '==1.2.3', got {version!r}")
    hashes = entry.get("hashes", [])
    if not isinstance(hashes, list) or not all(
        isinstance(h, str) and _HASH.match(h) for h in hashes
    ):
        raise fail("hashes must be a list of 'sha256:<hex>' strings")
    marker = entry.get("markers")
    if marker is not None:
        try:
            Marker(str(marker))
        except InvalidMarker as exc:
            raise fail(f"invalid markers {marker!r}: {exc}") from None
    index = entry.get("index")
    if index is not None and index not in sources:
        raise fail(f"index {index!r} is not in _meta.sources")
    return LockedPackage(
        name=canonicalize_name(name),
        version=version.lstrip("="),
        marker=marker,
        hashes=tuple(hashes),
        origin=Origin(doc.path, line),
        index=sources[index] if index is not None else None,
        group=group,
    )
