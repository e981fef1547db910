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

# What pip installs to build an sdist that declares no [build-system] (PEP 518's fallback),
# and the `wheel` that setuptools before 70.1 asks for (get_requires_for_build_wheel) to
# build a wheel at all: without it, the offline build of a legacy sdist fails.
LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")
_SETUPTOOLS_BACKENDS = ("setuptools.build_meta", "setuptools.build_meta:__legacy__")

# What an sdist's files say the target will need to build it: (suffix or name, need).
_NEEDS_BY_FILE: tuple[tuple[str, str], ...] = (
    (".c", "a C compiler and Python headers (Debian: gcc python3-dev)"),
    (".cc", "a C++ compiler and Python headers (Debian: g++ python3-dev)"),
    (".cpp", "a C++ compiler and Python headers (Debian: g++ python3-dev)"),
    (".cxx", "a C++ compiler and Python headers (Debian: g++ python3-dev)"),
    (".pyx", "Cython"),
    (".pyx", "a C compiler and Python headers (Debian: gcc python3-dev)"),
    (".f", "a Fortran compiler (Debian: gfortran)"),
    (".f90", "a Fortran compiler (Debian: gfortran)"),
    ("Cargo.toml", "Rust and Cargo (rustup, or Debian: rustc cargo)"),
    ("meson.build", "Meson and Ninja"),
    ("CMakeLists.txt", "CMake"),
)
_NEEDS_BY_TEXT: tuple[tuple[bytes, str], ...] = (
    (b"pg_config", "pg_config and the libpq headers (Debian: libpq-dev)"),
    (b"mysql_config", "mysql_config and the MySQL client headers (Debian: libmysqlclient-dev)"),
    (b"xml2-config", "the libxml2 and libxslt headers (Debian: libxml2-dev libxslt1-dev)"),
)


@dataclass
class DistMetadata:
    requires_dist: list[Requirement] | None  # None: unknown without building
    build_requires: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)  # an sdist: what building it will need


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


# Top-level files read in full (a setup.py says which libraries it builds against).
_WANTED = {"PKG-INFO", "pyproject.toml", "setup.py", "setup.cfg"}
_MAX_READ = 1024 * 1024  # a stranger's archive: never read a member past this


def _sdist_members(path: Path, filename: str) -> tuple[dict[str, bytes], list[str]]:
    """The top directory's PKG-INFO, pyproject.toml, setup.py and setup.cfg, and the
    names of every member (read, never extracted: nothing of it reaches the disk)."""
    found: dict[str, bytes] = {}
    names: list[str] = []
    if filename.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                names.append(info.filename)
                parts = info.filename.split("/")
                if len(parts) == 2 and parts[1] in _WANTED and info.file_size <= _MAX_READ:
                    found[parts[1]] = zf.read(info)
        return found, names
    with tarfile.open(path) as tf:
        for member in tf:
            names.append(member.name)
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] in _WANTED and member.isfile():
                if member.size > _MAX_READ:
                    continue
                extracted = tf.extractfile(member)
                if extracted is not None:
                    found[parts[1]] = extracted.read()
    return found, names


# Folders whose files are not built with the package: a project's tests (numpy's f2py
# tests hold Fortran), documentation, examples, and vendored build tools' own test trees
# (numpy's vendored Meson has Rust and CMake test projects).
_NOT_BUILT = {"test", "tests", "testing", "test cases", "doc", "docs", "examples", "benchmarks"}


def _built(name: str) -> bool:
    folders = [part.lower() for part in name.split("/")[:-1]]
    return not any(f in _NOT_BUILT or f.startswith("vendored") for f in folders)


def build_needs(names: list[str], members: dict[str, bytes]) -> list[str]:
    """What the target is likely to need to build an sdist with these files. Pure."""
    needs: list[str] = []
    for name in filter(_built, names):
        base = name.rsplit("/", 1)[-1]
        for file_marker, need in _NEEDS_BY_FILE:
            matches = base == file_marker or (
                file_marker.startswith(".") and base.endswith(file_marker)
            )
            if matches and need not in needs:
                needs.append(need)
    text = b"\n".join(members.get(n, b"") for n in ("setup.py", "setup.cfg", "pyproject.toml"))
    for text_marker, need in _NEEDS_BY_TEXT:
        if text_marker in text and need not in needs:
            needs.append(need)
    if b"setuptools_rust" in text or b"setuptools-rust" in text or b"maturin" in text:
        rust = next(n for m, n in _NEEDS_BY_FILE if m == "Cargo.toml")
        if rust not in needs:
            needs.append(rust)
    return needs


def sdist_metadata(path: Path, filename: str) -> DistMetadata:
    members, names = _sdist_members(path, filename)
    pyproject: dict[str, object] = {}
    if "pyproject.toml" in members:
        try:
            pyproject = tomllib.loads(members["pyproject.toml"].decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            pyproject = {}
    build_requires = build_requirements(pyproject.get("build-system"))

    requires: list[Requirement] | None = None
    if "PKG-INFO" in members:
        requires = parse_core_metadata(members["PKG-INFO"])
    project = pyproject.get("project")
    if requires is None and isinstance(project, dict):
        dynamic = project.get("dynamic") or []
        deps = project.get("dependencies")
        if "dependencies" not in dynamic and isinstance(deps, list):
            requires = [Requirement(str(d)) for d in deps]
    return DistMetadata(
        requires_dist=requires, build_requires=build_requires, needs=build_needs(names, members)
    )


def build_requirements(build_system: object) -> list[str]:
    """What pip installs into the isolated environment that builds a project with this
    ``[build-system]`` table: its ``requires``, with ``wheel`` added for setuptools (which
    asks for it before 70.1); without a table, pip's legacy setuptools and wheel."""
    if not isinstance(build_system, dict) or not isinstance(build_system.get("requires"), list):
        return list(LEGACY_BUILD_REQUIRES)
    requires = [str(r) for r in build_system["requires"]]
    backend = str(build_system.get("build-backend") or "setuptools.build_meta:__legacy__")
    names = set()
    for text in requires:
        try:
            names.add(Requirement(text).name.lower())
        except InvalidRequirement:
            continue
    if backend in _SETUPTOOLS_BACKENDS and "wheel" not in names:
        requires.append("wheel")
    return requires


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
