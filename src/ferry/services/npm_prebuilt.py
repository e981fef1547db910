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


def _needs_compiling(pkg: NpmPackage, addon: NativeAddon, why: str, target: NodeTarget) -> Problem:
    return Problem(
        "warning",
        "needs-compiling",
        f"{pkg.name}@{pkg.version} is a native addon ({addon.tool}) and {why}: it will be "
        f"compiled on the target, which needs {compile_needs(target)}; install scripts "
        "run only with FERRY_NPM_SCRIPTS=1",
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
                Problem(
                    "info",
                    "prebuilt-binary",
                    f"{first.name}@{first.version} carries its binary for {target.key} in "
                    f"its own tarball ({addon.tool}): nothing to build or fetch",
                    package=first.name,
                    target=target.key,
                )
            )
        elif addon.url is None:
            problems.append(_needs_compiling(first, addon, addon.reason, target))
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
                why = (
                    f"its prebuilt binary for {target.key} could not be fetched from "
                    f"{addon.url} ({reason})"
                )
                problems.append(_needs_compiling(first, addon, why, target))
                continue
            result = done[request.dest]
            try:
                files = await asyncio.to_thread(unpack, result.path, addon.strip)
            except PrebuiltError as exc:
                why = f"its prebuilt binary from {addon.url} is unusable: {exc}"
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
                Problem(
                    "info",
                    "prebuilt-binary",
                    f"{first.name}@{first.version}: the {addon.tool} binary for {target.key} "
                    f"is in the bundle (from {addon.url}); the offline install places it in "
                    f"{addon.dest or 'the package folder'}",
                    package=first.name,
                    target=target.key,
                )
            )
    return binaries, problems
