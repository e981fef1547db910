"""npm resolution results: plain data, the same shape as the Python side's."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ferry.problems import Problem
from ferry.targets import NodeTarget

# strongest first: the one a tarball is verified and stored by
_SRI_ORDER = ("sha512", "sha384", "sha256", "sha1")
_DIGEST_BYTES = {"sha512": 64, "sha384": 48, "sha256": 32, "sha1": 20}


@dataclass(frozen=True)
class Integrity:
    """One Subresource Integrity hash (``sha512-<base64>``) as algorithm + hex."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, sri: str) -> Integrity | None:
        """The strongest hash of an SRI string (it may list several, space separated)."""
        found: dict[str, str] = {}
        for item in sri.split():
            algo, _, b64 = item.partition("-")
            if algo in _SRI_ORDER and b64:
                try:
                    digest = base64.b64decode(b64.split("?")[0], validate=True)
                except ValueError:
                    continue
                if len(digest) == _DIGEST_BYTES[algo]:  # a truncated hash verifies nothing
                    found.setdefault(algo, digest.hex())
        for algo in _SRI_ORDER:
            if algo in found:
                return cls(algo, found[algo])
        return None

    @classmethod
    def from_shasum(cls, shasum: str) -> Integrity:
        return cls("sha1", shasum.lower())

    @property
    def sri(self) -> str:
        return f"{self.algorithm}-{base64.b64encode(bytes.fromhex(self.hex)).decode()}"


@dataclass
class NpmPackage:
    """One entry of the lock's ``packages`` map (one installed copy of a package)."""

    path: str  # node_modules/a/node_modules/b
    name: str
    version: str
    resolved: str | None
    integrity: Integrity | None
    dev: bool = False
    optional: bool = False
    peer: bool = False
    dev_optional: bool = False
    os: list[str] | None = None
    cpu: list[str] | None = None
    libc: list[str] | None = None
    engines: dict[str, str] = field(default_factory=dict)
    has_install_script: bool = False
    dependencies: dict[str, str] = field(default_factory=dict)
    optional_dependencies: dict[str, str] = field(default_factory=dict)
    peer_dependencies: dict[str, str] = field(default_factory=dict)
    deprecated: str | None = None
    size: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def filename(self) -> str:
        """The tarball's name in the bundle: ``@scope/name`` becomes ``scope-name``."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "name": self.name,
            "version": self.version,
            "resolved": self.resolved,
            "integrity": self.integrity.sri if self.integrity else None,
            "filename": self.filename,
            "size": self.size,
            "dev": self.dev,
            "optional": self.optional,
            "peer": self.peer,
            "os": self.os,
            "cpu": self.cpu,
            "libc": self.libc,
            "engines": self.engines,
            "has_install_script": self.has_install_script,
            "deprecated": self.deprecated,
        }


@dataclass
class TreeNode:
    """`npm ls --all --json`-shaped: a package and what it pulls in, nested."""

    name: str
    version: str
    path: str
    spec: str = ""  # the range the parent asked for
    children: list[TreeNode] = field(default_factory=list)
    deduped: bool = False  # already shown higher up (npm ls prints "deduped")
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "version": self.version, "spec": self.spec}
        if self.deduped:
            out["deduped"] = True
        if self.problems:
            out["problems"] = self.problems
        out["children"] = [c.to_dict() for c in self.children]
        return out

    def count(self) -> int:
        return 1 + sum(c.count() for c in self.children if not c.deduped)


@dataclass
class NpmResolution:
    target: NodeTarget
    root_name: str
    root_version: str
    lock: dict[str, Any]  # the lock used, resolved URLs filled in
    packages: list[NpmPackage] = field(default_factory=list)  # what installs on the target
    excluded: list[NpmPackage] = field(default_factory=list)  # other platforms, dev, ...
    tree: list[TreeNode] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lock_generated: bool = False
    # the project's .npmrc install settings (legacy-peer-deps, …): npm ci uses them too
    install_settings: dict[str, str] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(p.size or 0 for p in self.packages)

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    @property
    def has_warnings(self) -> bool:
        return any(p.severity == "warning" for p in self.problems)

    def to_dict(self) -> dict[str, object]:
        return {
            "ecosystem": "npm",
            "target": {
                "key": self.target.key,
                "node": self.target.node,
                "os": self.target.os,
                "cpu": self.target.cpu,
                "libc": self.target.libc,
            },
            "root": {"name": self.root_name, "version": self.root_version},
            "lock_generated": self.lock_generated,
            "install_settings": self.install_settings,
            "count": len(self.packages),
            "total_bytes": self.total_bytes,
            "packages": [p.to_dict() for p in self.packages],
            "excluded": [
                {
                    "name": p.name,
                    "version": p.version,
                    "os": p.os,
                    "cpu": p.cpu,
                    "libc": p.libc,
                    "reason": _excluded_reason(p),
                }
                for p in self.excluded
            ],
            "tree": [n.to_dict() for n in self.tree],
            "problems": [p.to_dict() for p in self.problems],
        }


def _excluded_reason(p: NpmPackage) -> str:
    if p.dev and not p.optional:
        return "dev"
    return "platform"
