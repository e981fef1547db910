"""The result of resolving Python manifests for one or more targets: plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ferry.problems import Problem
from ferry.targets import PythonTarget

__all__ = [
    "ArtifactFile",
    "Edge",
    "LockEntry",
    "Problem",
    "Resolution",
    "ResolvedPackage",
    "TargetResolution",
]


@dataclass(frozen=True)
class ArtifactFile:
    """A distribution file as the resolver reported it (before choosing one per target)."""

    url: str
    sha256: str
    size: int | None = None
    upload_time: str | None = None

    @property
    def filename(self) -> str:
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True)
class LockEntry:
    """One package of uv's pylock output for a target."""

    name: str
    version: str
    wheels: tuple[ArtifactFile, ...]
    sdist: ArtifactFile | None
    marker: str | None = None


@dataclass
class ResolvedPackage:
    name: str
    version: str
    file: ArtifactFile
    yanked: str | None = None  # the reason, "" when yanked without one; None when not yanked
    build_only: bool = False  # present only to build an sdist on the target
    # build_only: what it is there to build ("psycopg2 2.9.9", "the project")
    build_for: tuple[str, ...] = ()
    # an sdist: what the target is likely to need to build it (a C compiler, Rust, ...)
    needs: tuple[str, ...] = ()

    @property
    def is_sdist(self) -> bool:
        return not self.file.is_wheel

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "filename": self.file.filename,
            "url": self.file.url,
            "sha256": self.file.sha256,
            "size": self.file.size,
            "kind": "wheel" if self.file.is_wheel else "sdist",
            "yanked": self.yanked,
            "build_only": self.build_only,
            "build_for": list(self.build_for),
            "needs": list(self.needs),
        }

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class Edge:
    """``parent`` asked for ``child`` with ``specifier`` (parent None: the user's manifest)."""

    parent: str | None
    child: str
    specifier: str
    extras: tuple[str, ...] = ()
    origin: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "parent": self.parent,
            "child": self.child,
            "specifier": self.specifier,
            "extras": list(self.extras),
            "origin": self.origin,
        }


@dataclass
class TargetResolution:
    """One target's packages: ``packages`` is what installs (one version per name);
    ``build`` is what only builds sdists there, by ``name==version``, since each sdist
    builds in an environment of its own and may want another version of a package than
    the installed set has (``oldest-supported-numpy`` wants numpy 1.23 beside numpy 2)."""

    target: PythonTarget
    packages: dict[str, ResolvedPackage] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    build: dict[str, ResolvedPackage] = field(default_factory=dict)

    @property
    def all_packages(self) -> list[ResolvedPackage]:
        return [*self.packages.values(), *self.build.values()]

    @property
    def total_bytes(self) -> int:
        return sum(p.file.size or 0 for p in self.all_packages)

    def children(self, parent: str | None) -> list[Edge]:
        return [e for e in self.edges if e.parent == parent]

    def to_dict(self) -> dict[str, object]:
        return {
            "target": {
                "key": self.target.key,
                "python": self.target.python_version,
                "platform": self.target.platform,
                "implementation": self.target.implementation,
            },
            "count": len(self.all_packages),
            "total_bytes": self.total_bytes,
            "packages": [
                p.to_dict()
                for p in sorted(self.all_packages, key=lambda p: (p.name, p.build_only, p.version))
            ],
            "edges": [e.to_dict() for e in self.edges],
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class Resolution:
    targets: list[TargetResolution]
    problems: list[Problem] = field(default_factory=list)  # not tied to one target

    @property
    def all_problems(self) -> list[Problem]:
        return self.problems + [p for t in self.targets for p in t.problems]

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.all_problems)

    @property
    def has_warnings(self) -> bool:
        return any(p.severity == "warning" for p in self.all_problems)

    @property
    def unreachable(self) -> bool:
        """An index could not be reached: the failure is the network's, not the manifests'."""
        return any(p.kind == "index-unreachable" for p in self.all_problems)

    def unique_files(self) -> dict[str, ArtifactFile]:
        """Every chosen file across targets, once, by sha256."""
        out: dict[str, ArtifactFile] = {}
        for t in self.targets:
            for p in t.all_packages:
                out.setdefault(p.file.sha256, p.file)
        return out

    @property
    def total_bytes(self) -> int:
        return sum(f.size or 0 for f in self.unique_files().values())

    def to_dict(self) -> dict[str, object]:
        files = self.unique_files()
        return {
            "ecosystem": "pypi",
            "targets": [t.to_dict() for t in self.targets],
            "file_count": len(files),
            "total_bytes": self.total_bytes,
            "problems": [p.to_dict() for p in self.all_problems],
        }
