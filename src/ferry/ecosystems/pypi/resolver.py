"""Resolve Python manifests for every target: uv chooses versions, Ferry chooses each
target's file, asks the index what uv does not report, and rebuilds the tree."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ferry.ecosystems.pypi.distmeta import (
    DistMetadata,
    DistributionUnreadable,
    file_metadata,
    parse_core_metadata,
)
from ferry.ecosystems.pypi.failures import UNREACHABLE, failure_problem
from ferry.ecosystems.pypi.index import IndexClient
from ferry.ecosystems.pypi.metacache import MetadataCache
from ferry.ecosystems.pypi.model import (
    ArtifactFile,
    LockEntry,
    Problem,
    Resolution,
    ResolvedPackage,
    TargetResolution,
)
from ferry.ecosystems.pypi.options import FormatControl, PythonOptions
from ferry.ecosystems.pypi.sources import IndexSources
from ferry.ecosystems.pypi.tree import build_edges
from ferry.ecosystems.pypi.uv import UvFailure, UvResult, compile_target
from ferry.errors import FerryError
from ferry.manifests.model import Origin, PythonInput
from ferry.sandbox.runner import Runner
from ferry.stages import Stages, counter, no_stages
from ferry.targets import PythonTarget

# Returns the local path of a verified copy of the file (downloading it into the store).
FileGetter = Callable[[ArtifactFile, str], Awaitable[Path]]


@dataclass(frozen=True)
class ResolveContext:
    uv: Path
    sources: IndexSources
    runner: Runner  # where uv runs: directly, or in a service task's sandbox
    index: IndexClient
    get_file: FileGetter
    local_file: Callable[[str], Path | None]  # a verified copy already in the store, by sha256
    metadata_cache: MetadataCache
    # Wheels at least this big without PEP 658 metadata are read with Range requests
    # instead of being downloaded just to learn their dependencies.
    lazy_metadata_min_bytes: int = 4 * 1024 * 1024
    # False: uv may not build an sdist to read its metadata (``resolve_builds = never``)
    builds: bool = True
    # wheels or sources, a date, a PyTorch backend (the manifests' lines and the user's)
    options: PythonOptions = field(default_factory=PythonOptions)
    # how often uv retries a failed request: Ferry's `retries` setting (uv's own default 3)
    http_retries: int = 3


def choose_file(
    entry: LockEntry, target: PythonTarget, formats: FormatControl | None = None
) -> ArtifactFile | None:
    """The target's best wheel, else the sdist; within what ``formats`` allows."""
    formats = formats or FormatControl()
    if formats.allows_wheel(entry.name):
        ranked = [(r, w) for w in entry.wheels if (r := target.wheel_rank(w.filename)) is not None]
        if ranked:
            return min(ranked, key=lambda rw: rw[0])[1]
    return entry.sdist if formats.allows_sdist(entry.name) else None


def _requirement_lines(pyinput: PythonInput) -> tuple[list[str], list[str], bool]:
    if pyinput.locked:
        lines = []
        for pkg in pyinput.locked:
            line = f"{pkg.name}=={pkg.version}"
            if pkg.marker:
                line += f" ; {pkg.marker}"
            lines.append(line)
        return lines, [], True
    reqs = [str(r.requirement) for r in pyinput.requirements]
    cons = [str(c.requirement) for c in pyinput.constraints]
    return reqs, cons, False


def _pinned_hashes(pyinput: PythonInput) -> dict[str, set[str]]:
    """sha256 hex digests the user pinned, per package (from --hash or a lock file)."""
    out: dict[str, set[str]] = {}
    pins = [(r.name, r.hashes) for r in pyinput.requirements] + [
        (canonicalize_name(p.name), p.hashes) for p in pyinput.locked
    ]
    for name, hashes in pins:
        for h in hashes:
            algo, _, digest = h.partition(":")
            if algo == "sha256" and digest:
                out.setdefault(name, set()).add(digest.lower())
    return out


async def _remote_metadata(ctx: ResolveContext, pkg: ResolvedPackage) -> bytes | None:
    """Core metadata without downloading the file: PEP 658, else a Range read of a big
    wheel. Some mirrors drop the field that advertises PEP 658 yet serve the file, so it
    is always worth the one request."""
    if not (pkg.file.is_wheel and pkg.file.url.startswith("http")):
        return None
    try:
        return await ctx.index.metadata(pkg.file.url)
    except FerryError:
        pass
    if (pkg.file.size or 0) >= ctx.lazy_metadata_min_bytes:
        try:
            return await ctx.index.wheel_metadata_by_range(pkg.file.url)
        except FerryError:
            pass
    return None


async def _metadata(ctx: ResolveContext, pkg: ResolvedPackage) -> DistMetadata:
    """Requires-Dist (and an sdist's build requirements) of the chosen file."""
    local = ctx.local_file(pkg.file.sha256)
    if pkg.file.is_wheel and local is None:
        raw = await asyncio.to_thread(ctx.metadata_cache.get, pkg.file.sha256)
        if raw is None:
            raw = await _remote_metadata(ctx, pkg)
            if raw is not None:
                await asyncio.to_thread(ctx.metadata_cache.put, pkg.file.sha256, raw)
        if raw is not None:
            return DistMetadata(parse_core_metadata(raw))
    # the file itself: verified into the store, where the bundle will find it
    path = local or await ctx.get_file(pkg.file, pkg.name)
    try:
        return await asyncio.to_thread(file_metadata, path, pkg.file.filename)
    except DistributionUnreadable:
        return DistMetadata(None)  # the tree shows no children; the file is still bundled


def _yanked_problem(pkg: ResolvedPackage, target: PythonTarget) -> Problem:
    return Problem.of(
        "warning",
        "yanked",
        {"package": pkg.name, "version": pkg.version, "reason": pkg.yanked or None},
        package=pkg.name,
        target=target.key,
    )


async def choose_target(
    ctx: ResolveContext, pyinput: PythonInput, target: PythonTarget
) -> TargetResolution:
    """uv's versions and the file per package for ``target``; no tree yet."""
    lines, cons, locked = _requirement_lines(pyinput)

    async def compile_with(options: PythonOptions) -> UvResult | UvFailure:
        return await compile_target(
            ctx.uv,
            target,
            lines,
            cons,
            ctx.sources,
            ctx.runner,
            no_deps=locked,
            prerelease=pyinput.allow_prereleases,
            builds=ctx.builds,
            options=options,
            http_retries=ctx.http_retries,
        )

    options = ctx.options
    outcome = await compile_with(options)
    result = _files_for(ctx, pyinput, target, outcome, options)
    if ctx.options.prefer_binary and not isinstance(outcome, UvFailure) and not locked:
        result = await _prefer_binary(result, lambda o: compile_with(o), ctx, pyinput)
    return result


def _files_for(
    ctx: ResolveContext,
    pyinput: PythonInput,
    target: PythonTarget,
    outcome: UvResult | UvFailure,
    options: PythonOptions,
) -> TargetResolution:
    result = TargetResolution(target)
    if isinstance(outcome, UvFailure):
        result.problems.append(failure_problem(outcome, ctx.sources, pyinput.url_origins, target))
        return result

    pins = _pinned_hashes(pyinput)
    for entry in outcome.entries:
        if entry.marker and not Marker(entry.marker).evaluate(dict(target.marker_environment)):
            continue
        chosen = choose_file(entry, target, options.formats)
        name = canonicalize_name(entry.name)
        if chosen is None:
            result.problems.append(_no_file_problem(name, entry, target, options.formats))
            continue
        if name in pins and chosen.sha256 not in pins[name]:
            result.problems.append(
                Problem.of(
                    "error",
                    "hash-not-pinned",
                    {"file": chosen.filename, "sha256": chosen.sha256, "package": name},
                    package=name,
                    target=target.key,
                )
            )
        result.packages[name] = ResolvedPackage(name, entry.version, chosen)

    for pkg in result.packages.values():
        if pkg.name in outcome.yanked:
            pkg.yanked = outcome.yanked[pkg.name]
            result.problems.append(_yanked_problem(pkg, target))
    return result


def _no_file_problem(
    name: str, entry: LockEntry, target: PythonTarget, formats: FormatControl
) -> Problem:
    params: dict[str, str] = {"package": name, "version": entry.version}
    if not formats.allows_sdist(name):
        params["refused"] = "sdist"
    elif not formats.allows_wheel(name):
        params["refused"] = "wheel"
    else:
        params["platform"] = target.platform
    return Problem.of("error", "no-file-for-target", params, package=name, target=target.key)


# --prefer-binary tries this many sdist-only packages one by one when they cannot all have
# wheels at once; each try is a uv run.
_PREFER_BINARY_TRIES = 8


async def _prefer_binary(
    first: TargetResolution,
    compile_with: Callable[[PythonOptions], Awaitable[UvResult | UvFailure]],
    ctx: ResolveContext,
    pyinput: PythonInput,
) -> TargetResolution:
    """pip's ``--prefer-binary``: an older release with a wheel for the target over a newer
    one that would have to be built there. uv has no such preference, so: resolve, then
    resolve again requiring wheels for what came out as sdists, keeping what works."""
    sdists = sorted(
        p.name
        for p in first.packages.values()
        if p.is_sdist and ctx.options.formats.allows_wheel(p.name)
    )
    if not sdists:
        return first
    target = first.target
    wanted = ctx.options.with_only_binary(sdists)
    outcome = await compile_with(wanted)
    if isinstance(outcome, UvFailure):
        # not all at once: keep those that have a wheel somewhere on their own
        kept: list[str] = []
        for name in sdists[:_PREFER_BINARY_TRIES]:
            alone = await compile_with(ctx.options.with_only_binary([*kept, name]))
            if not isinstance(alone, UvFailure):
                kept.append(name)
        if not kept:
            return first
        wanted = ctx.options.with_only_binary(kept)
        outcome = await compile_with(wanted)
        if isinstance(outcome, UvFailure):
            return first
    result = _files_for(ctx, pyinput, target, outcome, wanted)
    if any(p.severity == "error" for p in result.problems):
        return first
    for name in sdists:
        before, after = first.packages.get(name), result.packages.get(name)
        if before and after and not after.is_sdist:
            result.problems.append(
                Problem.of(
                    "info",
                    "prefer-binary",
                    {
                        "package": name,
                        "version": after.version,
                        "platform": target.platform,
                        "previous": before.version,
                    },
                    package=name,
                    target=target.key,
                )
            )
    return result


async def annotate_target(
    ctx: ResolveContext,
    pyinput: PythonInput,
    result: TargetResolution,
    read: Callable[[], None] = lambda: None,
    stages: Stages = no_stages,
) -> None:
    """The tree (edges with specifiers), sdist warnings and each sdist's build environment;
    ``read`` is called as each package's metadata is in."""
    target = result.target
    if not result.packages:
        return

    async def metadata(pkg: ResolvedPackage) -> DistMetadata:
        meta = await _metadata(ctx, pkg)
        read()
        return meta

    metas = await asyncio.gather(*(metadata(p) for p in result.packages.values()))
    requires: dict[str, list[Requirement] | None] = {}
    environments: list[tuple[str, list[str]]] = []
    for pkg, meta in zip(result.packages.values(), metas, strict=True):
        requires[pkg.name] = meta.requires_dist
        if pkg.is_sdist:
            pkg.needs = tuple(meta.needs)
            result.problems.append(_sdist_problem(pkg, meta, target))
            environments.append((pkg.label, meta.build_requires))

    result.edges = build_edges(_roots(pyinput, requires), requires, target.marker_environment)
    if pyinput.build_requires:
        # the project's own [build-system], so that `pip install .` works offline too
        environments.append((PROJECT, list(pyinput.build_requires)))
    if environments:
        stages("pypi", "build-environments")
    await _add_build_environments(ctx, result, environments, pyinput.url_origins)


def _roots(
    pyinput: PythonInput, requires: dict[str, list[Requirement] | None]
) -> list[tuple[Requirement, str | None]]:
    if not pyinput.locked:
        return [(r.requirement, str(r.origin)) for r in pyinput.requirements]
    # A lock does not say which packages were asked for directly: the roots are those
    # nothing else in the lock depends on.
    children = {canonicalize_name(r.name) for reqs in requires.values() for r in reqs or []}
    return [
        (Requirement(f"{p.name}=={p.version}"), str(p.origin))
        for p in pyinput.locked
        if canonicalize_name(p.name) not in children
    ]


PROJECT = "the project"
# An sdist among the build requirements needs an environment of its own, and so on: this
# far at most (a build tool built from source by another is already rare).
_BUILD_DEPTH = 3


def _sdist_problem(pkg: ResolvedPackage, meta: DistMetadata, target: PythonTarget) -> Problem:
    return Problem.of(
        "warning",
        "no-wheel-for-target",
        {
            "package": pkg.name,
            "version": pkg.version,
            **_target_params(target),
            "build_requires": ", ".join(meta.build_requires) or None,
            "needs": ", ".join(meta.needs) or None,
        },
        package=pkg.name,
        target=target.key,
    )


def _target_params(target: PythonTarget) -> dict[str, str]:
    # str(target), in parts: a translation words the parts its own way
    return {
        "python": target.python_version,
        "implementation": target.implementation,
        "platform": target.platform,
    }


async def _add_build_environments(
    ctx: ResolveContext,
    result: TargetResolution,
    environments: list[tuple[str, list[str]]],
    url_origins: Mapping[str, Origin],
) -> None:
    """Resolve each sdist's build requirements on their own, as pip's isolated build of
    that one sdist will install them: two sdists may want versions of a tool that cannot
    coexist (setuptools<60 and setuptools>=70.1), and a build requirement may want another
    version of a package than the installed set has. Files shared by environments are one
    file in the bundle (the same sha256)."""
    seen: set[tuple[str, ...]] = set()
    for _depth in range(_BUILD_DEPTH):
        todo = [(who, reqs) for who, reqs in environments if tuple(sorted(reqs)) not in seen]
        if not todo:
            return
        seen.update(tuple(sorted(reqs)) for _, reqs in todo)
        outcomes = await asyncio.gather(
            *(
                compile_target(
                    ctx.uv,
                    result.target,
                    reqs,
                    [],
                    ctx.sources,
                    ctx.runner,
                    builds=ctx.builds,
                    options=ctx.options,
                    http_retries=ctx.http_retries,
                )
                for _, reqs in todo
            )
        )
        environments = []
        for (who, reqs), outcome in zip(todo, outcomes, strict=True):
            environments += await _add_environment(ctx, result, who, reqs, outcome, url_origins)


async def _add_environment(
    ctx: ResolveContext,
    result: TargetResolution,
    who: str,
    reqs: list[str],
    outcome: UvResult | UvFailure,
    url_origins: Mapping[str, Origin],
) -> list[tuple[str, list[str]]]:
    """Add one environment's packages; return the environments its own sdists need."""
    target = result.target
    if isinstance(outcome, UvFailure) and outcome.kind == UNREACHABLE:
        package = who.split(" ")[0] if who != PROJECT else None
        result.problems.append(
            failure_problem(outcome, ctx.sources, url_origins, target, package=package)
        )
        return []
    if isinstance(outcome, UvFailure):
        result.problems.append(
            Problem.of(
                "error",
                "build-requirements-" + outcome.kind,
                {
                    "sdist": who if who != PROJECT else None,
                    "requirements": ", ".join(reqs),
                    **_target_params(target),
                    "output": outcome.message,
                },
                package=who.split(" ")[0] if who != PROJECT else None,
                target=target.key,
            )
        )
        return []
    nested: list[tuple[str, list[str]]] = []
    for entry in outcome.entries:
        name = canonicalize_name(entry.name)
        installed = result.packages.get(name)
        if installed is not None and installed.version == entry.version:
            continue  # the installed set's own file builds it as well
        chosen = choose_file(entry, target, ctx.options.formats)
        if chosen is None:
            continue
        key = f"{name}=={entry.version}"
        known = result.build.get(key)
        if known is not None:
            if who not in known.build_for:
                known.build_for += (who,)
            continue
        pkg = ResolvedPackage(name, entry.version, chosen, build_only=True, build_for=(who,))
        result.build[key] = pkg
        if not chosen.is_wheel:
            meta = await _metadata(ctx, pkg)
            pkg.needs = tuple(meta.needs)
            result.problems.append(_sdist_problem(pkg, meta, target))
            nested.append((pkg.label, meta.build_requires))
    return nested


async def choose(
    ctx: ResolveContext, pyinput: PythonInput, targets: list[PythonTarget]
) -> Resolution:
    results = await asyncio.gather(*(choose_target(ctx, pyinput, t) for t in targets))
    return Resolution(list(results))


async def annotate(
    ctx: ResolveContext,
    pyinput: PythonInput,
    resolution: Resolution,
    stages: Stages = no_stages,
) -> None:
    read = counter(stages, "pypi", "metadata", sum(len(t.packages) for t in resolution.targets))
    await asyncio.gather(
        *(annotate_target(ctx, pyinput, t, read, stages) for t in resolution.targets)
    )


async def resolve(
    ctx: ResolveContext,
    pyinput: PythonInput,
    targets: list[PythonTarget],
    stages: Stages = no_stages,
) -> Resolution:
    stages("pypi", "resolving")
    resolution = await choose(ctx, pyinput, targets)
    await annotate(ctx, pyinput, resolution, stages)
    return resolution
