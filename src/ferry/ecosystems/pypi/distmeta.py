"""Read dependency metadata out of distribution files (wheels, sdists) and PEP 658 files."""

from __future__ import annotations

import tarfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from email.parser import BytesParser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

# What pip installs to build an sdist that declares no [build-system] (PEP 518's fallback).
LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0",)


@dataclass
class DistMetadata:
    requires_dist: list[Requirement] | None  # None: unknown without building
    build_requires: list[str] = field(default_factory=list)


def parse_core_metadata(raw: bytes) -> list[Requirement] | None:
    msg = BytesParser().parsebytes(raw, headersonly=True)
    version = msg.get("Metadata-Version", "1.0")
    dynamic = {d.lower() for d in msg.get_all("Dynamic") or []}
    if "requires-dist" in dynamic:
        return None
    out: list[Requirement] = []
    for line in msg.get_all("Requires-Dist") or []:
        try:
            out.append(Requirement(line))
        except InvalidRequirement:
            continue  # one broken line in someone else's metadata must not hide the rest
    # Before 2.2, an sdist's PKG-INFO may simply omit what its setup.py computes.
    if not out and Version(version) < Version("2.2"):
        return None
    return out


def wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return zf.read(name)
    raise ValueError(f"{path.name} has no .dist-info/METADATA")


def _sdist_members(path: Path, filename: str) -> dict[str, bytes]:
    """PKG-INFO and pyproject.toml at the sdist's top directory."""
    wanted = {"PKG-INFO", "pyproject.toml"}
    found: dict[str, bytes] = {}
    if filename.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                parts = name.split("/")
                if len(parts) == 2 and parts[1] in wanted:
                    found[parts[1]] = zf.read(name)
        return found
    with tarfile.open(path) as tf:
        for member in tf:
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] in wanted and member.isfile():
                extracted = tf.extractfile(member)
                if extracted is not None:
                    found[parts[1]] = extracted.read()
    return found


def sdist_metadata(path: Path, filename: str) -> DistMetadata:
    members = _sdist_members(path, filename)
    pyproject: dict[str, object] = {}
    if "pyproject.toml" in members:
        try:
            pyproject = tomllib.loads(members["pyproject.toml"].decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            pyproject = {}
    build_system = pyproject.get("build-system")
    build_requires = list(LEGACY_BUILD_REQUIRES)
    if isinstance(build_system, dict) and isinstance(build_system.get("requires"), list):
        build_requires = [str(r) for r in build_system["requires"]]

    requires: list[Requirement] | None = None
    if "PKG-INFO" in members:
        requires = parse_core_metadata(members["PKG-INFO"])
    project = pyproject.get("project")
    if requires is None and isinstance(project, dict):
        dynamic = project.get("dynamic") or []
        deps = project.get("dependencies")
        if "dependencies" not in dynamic and isinstance(deps, list):
            requires = [Requirement(str(d)) for d in deps]
    return DistMetadata(requires_dist=requires, build_requires=build_requires)


def file_metadata(path: Path, filename: str) -> DistMetadata:
    """Metadata of a distribution stored at ``path`` (a store blob has no telling name,
    so the distribution's ``filename`` says what kind of archive it is)."""
    try:
        if filename.endswith(".whl"):
            return DistMetadata(parse_core_metadata(wheel_metadata(path)))
        return sdist_metadata(path, filename)
    except (OSError, ValueError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise DistributionUnreadable(f"{filename}: {exc}") from exc


class DistributionUnreadable(Exception):
    """A verified file whose archive cannot be read (mislabelled or broken upstream)."""
