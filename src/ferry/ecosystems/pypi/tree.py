"""Rebuild who-asked-for-what from the packages uv chose and their declared requirements.

This is not a resolver: the versions are uv's. It evaluates each chosen package's
``Requires-Dist`` with the *target's* marker environment and the extras asked of it, and
keeps the edges that lead to packages in the resolution.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ferry.ecosystems.pypi.model import Edge


def _applies(req: Requirement, env: Mapping[str, str], extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    candidates = [*extras, ""] if extras else [""]
    return any(req.marker.evaluate({**env, "extra": e}) for e in candidates)


def build_edges(
    roots: Iterable[tuple[Requirement, str | None]],
    requires: Mapping[str, list[Requirement] | None],
    env: Mapping[str, str],
) -> list[Edge]:
    """Edges from the user's requirements (parent None) down through ``requires``.

    ``roots`` pairs each top-level requirement with where it was written; ``requires`` maps
    every resolved package to its Requires-Dist (None when unknown, e.g. an sdist whose
    metadata needs a build: it simply has no children shown).
    """
    present = set(requires)
    edges: list[Edge] = []
    seen_edges: set[tuple[str | None, str, str]] = set()
    asked_extras: dict[str, set[str]] = {}
    queue: deque[str] = deque()

    def add(parent: str | None, req: Requirement, origin: str | None) -> None:
        child = canonicalize_name(req.name)
        if child not in present:
            return
        spec = str(req.specifier) or (f"@ {req.url}" if req.url else "*")
        key = (parent, child, spec + ",".join(sorted(req.extras)))
        if key not in seen_edges:
            seen_edges.add(key)
            edges.append(Edge(parent, child, spec, tuple(sorted(req.extras)), origin))
        known = asked_extras.setdefault(child, set())
        new_extras = set(req.extras) - known
        if child not in visited or new_extras:
            known |= new_extras
            queue.append(child)

    visited: set[str] = set()
    for req, origin in roots:
        if _applies(req, env, ()):
            add(None, req, origin)
    while queue:
        name = queue.popleft()
        visited.add(name)
        for req in requires.get(name) or []:
            if _applies(req, env, asked_extras.get(name, set())):
                add(name, req, None)
    return edges
