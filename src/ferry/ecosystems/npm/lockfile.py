"""Read a package-lock (v2/v3) and decide what installs on a target: pure functions.

The lock lists every package for every platform; npm decides at install time which
optional ones fit the machine (`os`, `cpu`, `libc`) and whether dev dependencies are
omitted. Ferry makes the same decisions for the *target*, before anything is fetched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ferry.ecosystems.npm.model import Integrity, NpmPackage, TreeNode
from ferry.problems import Problem
from ferry.targets import NodeTarget


def name_from_path(path: str) -> str:
    return path.rsplit("node_modules/", 1)[-1]


def _list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return None


def _deps(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def lock_packages(lock: dict[str, Any]) -> list[NpmPackage]:
    out = []
    for path, entry in lock["packages"].items():
        if not path:
            continue
        integrity = entry.get("integrity")
        engines = entry.get("engines")
        if isinstance(engines, list):  # very old packages wrote engines as a list
            engines = {}
        out.append(
            NpmPackage(
                path=path,
                # an alias (`"x": "npm:real@1"`) records the real name in the entry
                name=str(entry.get("name") or name_from_path(path)),
                version=str(entry.get("version", "")),
                resolved=entry.get("resolved"),
                integrity=Integrity.parse(integrity) if isinstance(integrity, str) else None,
                dev=bool(entry.get("dev")),
                optional=bool(entry.get("optional")),
                peer=bool(entry.get("peer")),
                dev_optional=bool(entry.get("devOptional")),
                os=_list(entry.get("os")),
                cpu=_list(entry.get("cpu")),
                libc=_list(entry.get("libc")),
                engines={str(k): str(v) for k, v in (engines or {}).items()},
                has_install_script=bool(entry.get("hasInstallScript")),
                dependencies=_deps(entry.get("dependencies")),
                optional_dependencies=_deps(entry.get("optionalDependencies")),
                peer_dependencies=_deps(entry.get("peerDependencies")),
                deprecated=str(entry["deprecated"]) if entry.get("deprecated") else None,
                raw=entry,
            )
        )
    return out


def select(
    packages: Iterable[NpmPackage],
    target: NodeTarget,
    *,
    include_dev: bool = False,
    all_platforms: bool = False,
) -> tuple[list[NpmPackage], list[NpmPackage], list[Problem]]:
    """(kept, left out, problems) for ``target``, as `npm ci --omit=dev` would decide there."""
    kept: list[NpmPackage] = []
    left_out: list[NpmPackage] = []
    problems: list[Problem] = []
    dropped_paths: list[str] = []
    for pkg in sorted(packages, key=lambda p: p.path):
        if any(pkg.path.startswith(d + "/") for d in dropped_paths):
            left_out.append(pkg)  # lives inside a package that is not installed
            continue
        if pkg.dev and not include_dev:
            left_out.append(pkg)
            dropped_paths.append(pkg.path)
            continue
        fits = target.accepts(pkg.os, pkg.cpu, pkg.libc)
        if not fits and not all_platforms:
            if pkg.optional or pkg.dev_optional:
                left_out.append(pkg)
                dropped_paths.append(pkg.path)
                continue
            problems.append(
                Problem.of(
                    "error",
                    "platform-mismatch",
                    {
                        "package": pkg.name,
                        "version": pkg.version,
                        "wants_os": ", ".join(pkg.os or ["any"]),
                        "wants_cpu": ", ".join(pkg.cpu or ["any"]),
                        "wants_libc": ", ".join(pkg.libc or ["any"]),
                        "node": target.node,
                        "os": target.os,
                        "cpu": target.cpu,
                        "libc": target.libc,
                    },
                    package=pkg.name,
                    target=target.key,
                )
            )
        kept.append(pkg)
    platform_left = [p for p in left_out if not target.accepts(p.os, p.cpu, p.libc)]
    if platform_left:
        names = ", ".join(f"{p.name}@{p.version}" for p in platform_left)
        problems.append(
            Problem.of(
                "info",
                "optional-platform-excluded",
                {"count": len(platform_left), "names": names},
                target=target.key,
            )
        )
    for pkg in kept:
        if pkg.has_install_script:
            problems.append(
                Problem.of(
                    "warning",
                    "install-script",
                    {"package": pkg.name, "version": pkg.version},
                    package=pkg.name,
                    target=target.key,
                )
            )
    return kept, left_out, problems


def resolve_from(name: str, from_path: str, present: dict[str, NpmPackage]) -> NpmPackage | None:
    """Node's module lookup: the nearest node_modules/<name> walking up from ``from_path``."""
    base = from_path
    while True:
        candidate = f"{base}/node_modules/{name}" if base else f"node_modules/{name}"
        if candidate in present:
            return present[candidate]
        if not base:
            return None
        cut = base.rfind("/node_modules/")
        base = base[:cut] if cut >= 0 else ""


def root_dependencies(lock: dict[str, Any], *, include_dev: bool) -> dict[str, str]:
    root = lock["packages"][""]
    deps: dict[str, str] = {}
    fields = ["dependencies", "optionalDependencies", "peerDependencies"]
    if include_dev:
        fields.append("devDependencies")
    for key in fields:
        deps.update(_deps(root.get(key)))
    return deps


def build_tree(root_deps: dict[str, str], kept: list[NpmPackage]) -> list[TreeNode]:
    """The nested tree `npm ls --all` would print for the kept packages."""
    present = {p.path: p for p in kept}
    shown: set[str] = set()

    def grow(pkg: NpmPackage, spec: str, ancestors: frozenset[str]) -> TreeNode:
        node = TreeNode(pkg.name, pkg.version, pkg.path, spec)
        if pkg.path in shown:
            node.deduped = True
            return node
        shown.add(pkg.path)
        wanted = {**pkg.dependencies, **pkg.optional_dependencies, **pkg.peer_dependencies}
        for name, child_spec in wanted.items():
            child = resolve_from(name, pkg.path, present)
            if child is None or child.path in ancestors:
                continue  # an optional one left out for this platform, or a cycle
            node.children.append(grow(child, child_spec, ancestors | {child.path}))
        return node

    roots = []
    for name, spec in root_deps.items():
        top = resolve_from(name, "", present)
        if top is not None:
            roots.append(grow(top, spec, frozenset({top.path})))
    return roots
