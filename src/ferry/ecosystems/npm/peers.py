"""Peer dependencies the target will be left without, or get at the wrong version.

npm 7+ installs peers itself; a project that needs ``legacy-peer-deps`` does not, and a
lock can hold a peer at a version outside the range its dependent asks for (npm's
``--force``, or an old lock). `npm ci` installs such a tree without a word, and the
dependent fails when it is first imported. Ferry reads the same lock and says so first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferry.ecosystems.npm.lockfile import resolve_from
from ferry.ecosystems.npm.model import NpmPackage
from ferry.ecosystems.npm.semver import versions_satisfy
from ferry.problems import Problem
from ferry.targets import NodeTarget


@dataclass(frozen=True)
class PeerEdge:
    dependent: NpmPackage
    name: str
    spec: str
    found: NpmPackage | None  # what Node's lookup finds from the dependent, if anything


def _optional_peers(pkg: NpmPackage) -> set[str]:
    meta = pkg.raw.get("peerDependenciesMeta")
    if not isinstance(meta, dict):
        return set()
    return {k for k, v in meta.items() if isinstance(v, dict) and v.get("optional") is True}


def peer_edges(kept: list[NpmPackage]) -> list[PeerEdge]:
    """Every required peer of every kept package, with what a require() would find."""
    present = {p.path: p for p in kept}
    edges = []
    for pkg in kept:
        optional = _optional_peers(pkg)
        for name, spec in pkg.peer_dependencies.items():
            if name in optional:
                continue
            # a peer is looked up from where the dependent sits, as Node's require does
            edges.append(PeerEdge(pkg, name, spec, resolve_from(name, pkg.path, present)))
    return edges


async def peer_problems(
    npm: Path, kept: list[NpmPackage], target: NodeTarget, *, strict: bool = False
) -> list[Problem]:
    """``strict`` (the project's strict-peer-deps): a wrong peer is an error, not a warning."""
    edges = peer_edges(kept)
    placed = [e for e in edges if e.found is not None]
    fits = await versions_satisfy(
        npm, [(e.found.version, e.spec) for e in placed if e.found is not None]
    )
    problems = [
        Problem.of(
            "warning",
            "peer-missing",
            {
                "package": e.dependent.name,
                "version": e.dependent.version,
                "peer": e.name,
                "spec": e.spec,
            },
            package=e.dependent.name,
            target=target.key,
        )
        for e in edges
        if e.found is None
    ]
    for edge, fit in zip(placed, fits, strict=True):
        if fit is False and edge.found is not None:
            problems.append(
                Problem.of(
                    "error" if strict else "warning",
                    "peer-conflict",
                    {
                        "package": edge.dependent.name,
                        "version": edge.dependent.version,
                        "peer": edge.name,
                        "spec": edge.spec,
                        "found": edge.found.version,
                    },
                    package=edge.dependent.name,
                    target=target.key,
                )
            )
    return problems
