"""At bundle time: the prebuilt binaries of a Node project's native addons, for the target.

Each kept package with an install script is read from its verified tarball; where its
install tool (node-pre-gyp, prebuild-install) would download a binary on the target, Ferry
downloads the target's one now, through the same engine and egress policy as everything
else, and the offline install places it. Where that is impossible, a problem says the
package will be compiled on the target and what that takes.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from ferry.bundle.npm_layout import PrebuiltBinary
from ferry.ecosystems.npm.model import NpmPackage, NpmResolution
from ferry.ecosystems.npm.prebuilt import (
    NativeAddon,
    PrebuiltError,
    compile_needs,
    native_addon,
    read_package,
    unpack,
)
from ferry.ecosystems.npm.resolver import NpmContext
from ferry.fetch import FetchRequest
from ferry.fetch.progress import NullProgress
from ferry.problems import Problem
from ferry.targets import NodeTarget


def _needs_compiling(
    pkg: NpmPackage, addon: NativeAddon, why: dict[str, str], target: NodeTarget
) -> Problem:
    """``why``: ``reason``; or ``target``, ``url`` and ``cause`` (the fetch failed); or
    ``url`` and ``error`` (what was fetched is unusable)."""
    return Problem.of(
        "warning",
        "needs-compiling",
        {
            "package": pkg.name,
            "version": pkg.version,
            "tool": addon.tool,
            **why,
            "needs": compile_needs(target),
        },
        package=pkg.name,
        target=target.key,
    )


async def fetch_prebuilt(
    ctx: NpmContext, resolution: NpmResolution, tarballs: dict[str, Path]
) -> tuple[list[PrebuiltBinary], list[Problem]]:
    """``tarballs``: lock path -> verified npm tarball (what the bundle carries)."""
    target = resolution.target
    by_release: dict[tuple[str, str], list[NpmPackage]] = {}
    for pkg in resolution.packages:
        if pkg.has_install_script and pkg.path in tarballs:
            by_release.setdefault((pkg.name, pkg.version), []).append(pkg)
    binaries: list[PrebuiltBinary] = []
    problems: list[Problem] = []
    wanted: list[tuple[list[NpmPackage], NativeAddon]] = []
    handled: set[str] = set()  # packages whose install script this replaces or explains
    for copies in by_release.values():
        first = copies[0]
        manifest, members = await asyncio.to_thread(read_package, tarballs[first.path])
        addon = native_addon(manifest, members, target)
        if addon is None:
            continue
        handled.add(first.name)
        if addon.bundled:
            problems.append(
                Problem.of(
                    "info",
                    "prebuilt-binary",
                    {
                        "package": first.name,
                        "version": first.version,
                        "target": target.key,
                        "tool": addon.tool,
                    },
                    package=first.name,
                    target=target.key,
                )
            )
        elif addon.url is None:
            problems.append(_needs_compiling(first, addon, {"reason": addon.reason}, target))
        else:
            wanted.append((copies, addon))
    # the generic "has an install script" warning gives way to what was found out here
    resolution.problems = [
        p for p in resolution.problems if not (p.kind == "install-script" and p.package in handled)
    ]
    if not wanted:
        return binaries, problems
    with tempfile.TemporaryDirectory(prefix="ferry-prebuilt-") as tmp:
        requests = [
            FetchRequest(url=addon.url or "", digest="", dest=Path(tmp) / f"{i}.tar.gz")
            for i, (_, addon) in enumerate(wanted)
        ]
        assert ctx.downloads is not None
        report = await ctx.downloads.fetcher(NullProgress()).fetch_all(requests)
        done = {r.request.dest: r for r in report.results}
        failed = {req.dest: err for req, err in report.failures}
        for request, (copies, addon) in zip(requests, wanted, strict=True):
            first = copies[0]
            if request.dest in failed:
                # the engine's message repeats the name and URL: keep only the reason
                reason = failed[request.dest].message.rsplit(f"{addon.url}: ", 1)[-1]
                why = {"target": target.key, "url": addon.url or "", "cause": reason}
                problems.append(_needs_compiling(first, addon, why, target))
                continue
            result = done[request.dest]
            try:
                files = await asyncio.to_thread(unpack, result.path, addon.strip)
            except PrebuiltError as exc:
                why = {"url": addon.url or "", "error": str(exc)}
                problems.append(_needs_compiling(first, addon, why, target))
                continue
            sha256 = await asyncio.to_thread(ctx.store.add_file, result.path)
            binaries.append(
                PrebuiltBinary(
                    package=first.name,
                    version=first.version,
                    tool=addon.tool,
                    url=addon.url or "",
                    tarball=ctx.store.path_for(sha256),
                    sha256=sha256,
                    install_paths=tuple(sorted(p.path for p in copies)),
                    dest=addon.dest,
                    files=files,
                )
            )
            problems.append(
                Problem.of(
                    "info",
                    "prebuilt-binary",
                    {
                        "package": first.name,
                        "version": first.version,
                        "tool": addon.tool,
                        "target": target.key,
                        "url": addon.url,
                        "dest": addon.dest or None,
                    },
                    package=first.name,
                    target=target.key,
                )
            )
    return binaries, problems
