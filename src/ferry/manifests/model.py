"""What a manifest parser hands to resolution: plain data, no I/O beyond reading the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

from ferry.ecosystems.pypi.options import FileOptions


@dataclass(frozen=True)
class Origin:
    """Where a requirement came from, so errors and the tree can point at it."""

    path: Path
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)


@dataclass(frozen=True)
class PyRequirement:
    """One top-level requirement as written by the user, normalised to PEP 508.

    ``hashes`` are the user's own ``--hash`` pins (``sha256:<hex>``): the chosen file must
    match one of them. ``group`` is None for runtime requirements, otherwise the extra /
    dependency group / Poetry group it belongs to.
    """

    requirement: Requirement
    origin: Origin
    hashes: tuple[str, ...] = ()
    group: str | None = None

    @property
    def name(self) -> str:
        from packaging.utils import canonicalize_name

        return canonicalize_name(self.requirement.name)


@dataclass(frozen=True)
class LockedPackage:
    """A package pinned by a lock file that the user handed over (Pipfile.lock)."""

    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]
    origin: Origin
    index: str | None = None
    group: str | None = None


@dataclass
class PythonInput:
    """Everything one or more Python manifests ask for.

    When ``locked`` is non-empty the lock is used as is: resolution only finds files for
    those exact pins and checks them against the locked hashes.
    """

    files: list[Path] = field(default_factory=list)
    requirements: list[PyRequirement] = field(default_factory=list)
    constraints: list[PyRequirement] = field(default_factory=list)
    locked: list[LockedPackage] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    requires_python: str | None = None
    notes: list[str] = field(default_factory=list)
    # Canonical names of every extra / group the files declare, selected or not, so a
    # request for a group that exists nowhere can be refused after merging.
    groups: list[str] = field(default_factory=list)
    allow_prereleases: bool = False
    # Where each index / find-links URL was written, so a refused one can be named.
    url_origins: dict[str, Origin] = field(default_factory=dict)
    # The project's own [build-system].requires (a pyproject.toml given as input), so a
    # bundle can `pip install .` the project itself offline.
    build_requires: list[str] = field(default_factory=list)
    # --only-binary / --no-binary / --prefer-binary lines, in file order
    file_options: FileOptions = field(default_factory=FileOptions)

    def drop_indexes(self) -> None:
        """Leave out the manifests' own index lines (``--ignore-manifest-indexes``), each
        noted where it was written."""
        for url in [u for u in (self.index_url, *self.extra_index_urls, *self.find_links) if u]:
            where = self.url_origins.pop(url, None)
            prefix = f"{where}: " if where else ""
            self.notes.append(f"{prefix}{url} left out (--ignore-manifest-indexes)")
        self.index_url = None
        self.extra_index_urls = []
        self.find_links = []

    def merge(self, other: PythonInput) -> None:
        self.files.extend(other.files)
        self.requirements.extend(other.requirements)
        self.constraints.extend(other.constraints)
        self.locked.extend(other.locked)
        self.index_url = other.index_url or self.index_url
        self.extra_index_urls.extend(
            u for u in other.extra_index_urls if u not in self.extra_index_urls
        )
        self.find_links.extend(u for u in other.find_links if u not in self.find_links)
        self.requires_python = other.requires_python or self.requires_python
        self.notes.extend(other.notes)
        self.groups.extend(g for g in other.groups if g not in self.groups)
        self.allow_prereleases = self.allow_prereleases or other.allow_prereleases
        for url, origin in other.url_origins.items():
            self.url_origins.setdefault(url, origin)
        self.build_requires.extend(r for r in other.build_requires if r not in self.build_requires)
        self.file_options.merge(other.file_options)


@dataclass(frozen=True)
class Selection:
    """Which optional parts of a manifest to include. Default: runtime only.

    ``groups`` names extras, PEP 735 dependency groups and Poetry groups alike (a project
    rarely reuses a name across them, and users think of them as one thing); ``all_groups``
    takes every one of them.
    """

    groups: frozenset[str] = frozenset()
    all_groups: bool = False

    def wants(self, group: str) -> bool:
        from packaging.utils import canonicalize_name

        return self.all_groups or canonicalize_name(group) in {
            canonicalize_name(g) for g in self.groups
        }


@dataclass(frozen=True)
class InputRules:
    """What reading a manifest may reach beyond the file itself.

    On a user's own machine (the CLI, ``TRUSTED``) a manifest is the user's: it may include
    any file, expand ``${VAR}`` from the environment and name local wheels, as pip allows.
    A manifest uploaded to the service is a stranger's (``confined_to`` the task's upload
    directory): ``-r``/``-c`` reach only the files uploaded with it, nothing is expanded
    from the server's environment, and no local path is looked at, not even to say that
    it does not exist.
    """

    confined_to: Path | None = None

    @property
    def confined(self) -> bool:
        return self.confined_to is not None


TRUSTED = InputRules()
